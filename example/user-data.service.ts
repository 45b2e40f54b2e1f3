import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WithUserLoadLock } from '../src';

/**
 * The load that fills a user's data: the decorator, `ensureLoaded` and the status calls name it,
 * so all three act on one flag and one lock per user.
 */
export const USER_DATA_LOAD = 'user-data';

/** Injection token of the example's own settings. */
export const EXAMPLE_OPTIONS = Symbol('EXAMPLE_OPTIONS');

export interface ExampleSettings {
  /** How long the simulated expensive load takes, in ms. */
  readonly loadMs: number;
}

/** What the expensive load produces for one user. */
export interface UserData {
  readonly userId: string;
  readonly servers: string[];
  readonly settings: { readonly theme: 'dark' | 'light'; readonly locale: string };
  /** The request whose call ran the loader (lets a response tell "ran here" from "shared"). */
  readonly loadedBy: string;
  /** Which run of the loader (for this user, in this app instance) produced the data. */
  readonly run: number;
  readonly loadedAt: string;
}

/**
 * The data cache the loaded flag guards. Here a Map in this process; in production it would be
 * shared by every process (Redis, cache-manager …) and its TTL equal to `loadedTtlMs`, because the
 * flag says "loaded" cluster-wide. Tests share one instance between two apps to model that.
 */
@Injectable()
export class UserDataCache {
  private readonly entries = new Map<string, UserData>();

  get(userId: string): UserData | undefined {
    return this.entries.get(userId);
  }

  set(data: UserData): void {
    this.entries.set(data.userId, data);
  }
}

@Injectable()
export class UserDataService {
  /** How many times the expensive load ran in this app instance. */
  loaderRuns = 0;
  private readonly runsPerUser = new Map<string, number>();
  /** Tells this instance's requests apart from another app's sharing the cache. */
  private readonly instance = randomUUID().slice(0, 8);
  private requests = 0;

  constructor(
    @Inject(EXAMPLE_OPTIONS) private readonly settings: ExampleSettings,
    private readonly cache: UserDataCache,
  ) {}

  /** A fresh id for one request: the loader stamps it into the data it produces. */
  nextRequestId(): string {
    return `${this.instance}-${++this.requests}`;
  }

  /**
   * The locked loader. The method body runs once per user per `loadedTtlMs` across every process
   * sharing the store. The call that ran it, and concurrent calls in this process that shared that
   * run, resolve to the data; a call that found the user loaded, or waited for another process,
   * resolves to `undefined` — so callers read the data from the cache.
   */
  @WithUserLoadLock({ name: USER_DATA_LOAD })
  async loadUserData(userId: string, requestId: string): Promise<UserData | undefined> {
    return this.fetchIntoCache(userId, requestId);
  }

  /**
   * The expensive load itself, without any lock: for `LoadLockService.ensureLoaded(userId, () =>
   * service.fetchIntoCache(userId, requestId))`, the decorator-free form of the same flow.
   */
  async fetchIntoCache(userId: string, requestId: string): Promise<UserData> {
    this.loaderRuns++;
    const run = (this.runsPerUser.get(userId) ?? 0) + 1;
    this.runsPerUser.set(userId, run);
    await sleep(this.settings.loadMs); // the database, the remote API …
    const data: UserData = {
      userId,
      servers: [`${userId}-eu-1`, `${userId}-us-1`],
      settings: { theme: run % 2 === 1 ? 'dark' : 'light', locale: 'en' },
      loadedBy: requestId,
      run,
      loadedAt: new Date().toISOString(),
    };
    this.cache.set(data);
    return data;
  }

  cached(userId: string): UserData | undefined {
    return this.cache.get(userId);
  }

  stats(): { loaderRuns: number; perUser: Record<string, number> } {
    return { loaderRuns: this.loaderRuns, perUser: Object.fromEntries(this.runsPerUser) };
  }
}
