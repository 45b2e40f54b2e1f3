import { Inject, Injectable } from '@nestjs/common';
import { LoadFlags } from './load-flags';
import { LoadStatusCore } from './load-status.core';

/**
 * The per-key "loaded" flags, as a Nest provider: {@link LoadFlags}, injected. Outside Nest,
 * `createLoadStatus()` hands out the same class as `status`.
 */
@Injectable()
export class LoadStatusService extends LoadFlags {
  constructor(@Inject(LoadStatusCore) core: LoadStatusCore) {
    super(core);
  }
}
