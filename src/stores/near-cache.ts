/**
 * A bounded LRU of "this user is loaded" facts, local to one process. An entry never outlives
 * the flag in the store: it expires at `sentAt + min(remaining TTL, maxAgeMs)`, where `sentAt` is
 * taken before the command that reported the TTL was sent. Every invalidation bumps a
 * generation, and a reply is cached only if no invalidation happened while it was in flight, so
 * a clear that overtakes a read can never be undone by that read's reply.
 */
/** A hit moves an entry to the most-recent end at most this often (cheap, still LRU in effect). */
const RECENCY_REFRESH_MS = 1_000;
/** Expired entries are swept after this many operations, so memory follows live users only. */
const SWEEP_EVERY_OPERATIONS = 1_024;

interface Entry {
  readonly expiresAt: number;
  /** When the flag itself runs out (the entry may end earlier, at `maxAgeMs`). */
  readonly flagEndsAt: number;
  /** Seen being refreshed ahead by someone: answer "loaded" until the entry ends. */
  refreshing: boolean;
  touchedAt: number;
}

export class NearCache {
  private readonly entries = new Map<string, Entry>();
  private generation = 0;
  private operations = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxAgeMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Take before sending a command whose reply may be cached. */
  snapshot(): { sentAt: number; generation: number } {
    return { sentAt: this.now(), generation: this.generation };
  }

  /** Remaining ms of a live entry (refreshing its LRU position), or undefined. */
  remaining(tag: string): number | undefined {
    if (++this.operations >= SWEEP_EVERY_OPERATIONS) this.sweep();
    const entry = this.entries.get(tag);
    if (entry === undefined) return undefined;
    const now = this.now();
    const left = entry.expiresAt - now;
    if (left <= 0) {
      this.entries.delete(tag);
      return undefined;
    }
    if (now - entry.touchedAt >= RECENCY_REFRESH_MS) {
      entry.touchedAt = now;
      this.entries.delete(tag);
      this.entries.set(tag, entry);
    }
    return Math.floor(left);
  }

  fill(
    tag: string,
    remainingMs: number,
    at: { sentAt: number; generation: number },
    refreshing = false,
  ): void {
    if (++this.operations >= SWEEP_EVERY_OPERATIONS) this.sweep();
    if (at.generation !== this.generation) return;
    const expiresAt = at.sentAt + Math.min(remainingMs, this.maxAgeMs);
    const now = this.now();
    if (expiresAt <= now) return;
    this.entries.delete(tag);
    this.entries.set(tag, {
      expiresAt,
      flagEndsAt: at.sentAt + remainingMs,
      refreshing,
      touchedAt: now,
    });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  /**
   * True if the entry answers "loaded" for a call that refreshes `refreshAheadMs` ahead: the flag
   * has at least that long left, or someone was seen refreshing it. Else the call goes to the
   * store, where one caller in the cluster takes the refresh.
   */
  fresh(tag: string, refreshAheadMs: number): boolean {
    if (this.remaining(tag) === undefined) return false;
    if (refreshAheadMs === 0) return true;
    const entry = this.entries.get(tag)!;
    return entry.refreshing || entry.flagEndsAt - this.now() >= refreshAheadMs;
  }

  /** Drops every expired entry. */
  sweep(): void {
    this.operations = 0;
    const now = this.now();
    for (const [tag, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(tag);
  }

  invalidate(tag: string): void {
    this.generation++;
    this.entries.delete(tag);
  }

  flush(): void {
    this.generation++;
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
