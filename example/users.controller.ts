import {
  BadRequestException,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Query,
} from '@nestjs/common';
import { LoadLockService, LoadStatusService } from '../src';
import { USER_DATA_LOAD, UserDataService, type UserData } from './user-data.service';

/**
 * How this request's call ended:
 * - `ran`: it ran the loader;
 * - `joined`: it shared a concurrent call's run in this process (and got its value);
 * - `skipped` (decorator): the loader did not run for it — the user was loaded already, or it
 *   waited for another process's load (the decorator does not say which);
 * - `already-loaded` / `loaded-elsewhere` (`?via=service`): the same two cases, told apart.
 */
export type LoadOutcomeName = 'ran' | 'joined' | 'skipped' | 'already-loaded' | 'loaded-elsewhere';

export interface UserDataResponse {
  userId: string;
  /** Read from the cache the loader fills. */
  data: UserData | null;
  /** True only for the request whose call ran the loader. */
  loadedHere: boolean;
  outcome: LoadOutcomeName;
}

@Controller()
export class UsersController {
  constructor(
    private readonly users: UserDataService,
    private readonly status: LoadStatusService,
    private readonly locks: LoadLockService,
  ) {}

  /**
   * Loads the user once (cluster-wide), then answers from the cache.
   * `?via=service` uses `LoadLockService.ensureLoaded` of this app instead of the decorator.
   */
  @Get('users/:id/data')
  async data(@Param('id') userId: string, @Query('via') via?: string): Promise<UserDataResponse> {
    const requestId = this.users.nextRequestId();
    let outcome: LoadOutcomeName;
    if (via === 'service') {
      const result = await this.locks.ensureLoaded(
        userId,
        () => this.users.fetchIntoCache(userId, requestId),
        { name: USER_DATA_LOAD },
      );
      outcome = result.status === 'loaded' ? (result.shared ? 'joined' : 'ran') : result.status;
    } else if (via === undefined || via === 'decorator') {
      const value = await this.users.loadUserData(userId, requestId);
      outcome = value === undefined ? 'skipped' : value.loadedBy === requestId ? 'ran' : 'joined';
    } else {
      throw new BadRequestException(`via must be 'decorator' or 'service'`);
    }
    return {
      userId,
      data: this.users.cached(userId) ?? null,
      loadedHere: outcome === 'ran',
      outcome,
    };
  }

  @Get('users/:id/status')
  async userStatus(@Param('id') userId: string): Promise<{ userId: string; loaded: boolean }> {
    return { userId, loaded: await this.status.isLoaded(userId, { name: USER_DATA_LOAD }) };
  }

  /** The user's data changed: the next request loads it again (and overwrites the cache). */
  @Delete('users/:id/loaded')
  @HttpCode(204)
  async clearLoaded(@Param('id') userId: string): Promise<void> {
    await this.status.clearLoaded(userId, { name: USER_DATA_LOAD });
  }

  @Get('stats')
  stats(): { loaderRuns: number; perUser: Record<string, number> } {
    return this.users.stats();
  }
}
