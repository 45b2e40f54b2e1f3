/**
 * A bounded LRU of "this user is loaded" facts, local to one process. An entry never outlives
 * the flag in the store: it expires at `sentAt + min(remaining TTL, maxAgeMs)`, where `sentAt` is
 * taken before the command that reported the TTL was sent. Every invalidation bumps a
 * generation, and a reply is cached only if no invalidation happened while it was in flight, so
 * a clear that overtakes a read can never be undone by that read's reply.
 */
export class NearCache {
  private readonly entries = new Map<string, number>();
  private generation = 0;

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
    const expiresAt = this.entries.get(tag);
    if (expiresAt === undefined) return undefined;
    const left = expiresAt - this.now();
    this.entries.delete(tag);
    if (left <= 0) return undefined;
    this.entries.set(tag, expiresAt);
    return Math.floor(left);
  }

  fill(tag: string, remainingMs: number, at: { sentAt: number; generation: number }): void {
    if (at.generation !== this.generation) return;
    const expiresAt = at.sentAt + Math.min(remainingMs, this.maxAgeMs);
    if (expiresAt <= this.now()) return;
    this.entries.delete(tag);
    this.entries.set(tag, expiresAt);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
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
