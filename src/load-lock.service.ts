import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  OnApplicationShutdown,
  OnModuleInit,
} from '@nestjs/common';
import { LoadLocks } from './load-locks';
import { LoadStatusCore } from './load-status.core';

/**
 * Token-owned locks and the load-once flow, as a Nest provider: {@link LoadLocks}, injected, and
 * started and shut down with the app. Outside Nest, `createLoadStatus()` hands out the same class
 * as `locks`.
 */
@Injectable()
export class LoadLockService
  extends LoadLocks
  implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown
{
  constructor(@Inject(LoadStatusCore) core: LoadStatusCore) {
    super(core);
  }
}
