/**
 * The one place keys and channels are built.
 *
 * A user id is percent-encoded (`encodeURIComponent`, which is injective on well-formed strings
 * and escapes `{`, `}`, `:` and `%`), so distinct ids never share keys and no id can end the
 * `{...}` hash tag early: all keys of one user live in one Redis Cluster slot.
 */
export interface UserKeys {
  /** Encoded user id, also the payload of notifications. */
  readonly tag: string;
  readonly loaded: string;
  readonly lock: string;
  readonly fence: string;
  /** Set while someone in another process waits: finish and release publish only then. */
  readonly waiting: string;
}

export function encodeUserId(userId: string): string {
  return encodeURIComponent(userId);
}

export function decodeUserTag(tag: string): string {
  return decodeURIComponent(tag);
}

export class KeyBuilder {
  /** Pub/sub channel carrying every completion and invalidation for this prefix. */
  readonly channel: string;

  /**
   * The key the boot probe writes (and deletes at once): `%probe` is never a user's tag, since
   * `encodeURIComponent` puts two hex digits after every `%`.
   */
  readonly probeKey: string;

  constructor(readonly prefix: string) {
    this.channel = `${prefix}:events`;
    this.probeKey = `${prefix}:{%probe}:probe`;
    // `{*}` keeps a prefix from matching another registration's keys (`app` vs `app:settings`);
    // a prefix holds no glob character (the options reject them).
    this.pattern = `${prefix}:{*}:*`;
  }

  /** SCAN pattern matching every key of this prefix (and the channel name, which is no key). */
  readonly pattern: string;

  forUser(userId: string): UserKeys {
    return new UserKeySet(this.prefix, encodeUserId(userId));
  }
}

/** Key names are built on first use: a near-cache hit needs only the tag. */
class UserKeySet implements UserKeys {
  private cached: { loaded: string; lock: string; fence: string; waiting: string } | undefined;

  constructor(
    private readonly prefix: string,
    readonly tag: string,
  ) {}

  get loaded(): string {
    return this.names().loaded;
  }
  get lock(): string {
    return this.names().lock;
  }
  get fence(): string {
    return this.names().fence;
  }
  get waiting(): string {
    return this.names().waiting;
  }

  private names(): { loaded: string; lock: string; fence: string; waiting: string } {
    if (this.cached) return this.cached;
    const base = `${this.prefix}:{${this.tag}}`;
    this.cached = {
      loaded: `${base}:loaded`,
      lock: `${base}:lock`,
      fence: `${base}:fence`,
      waiting: `${base}:waiting`,
    };
    return this.cached;
  }
}

/** Notification kinds sent on {@link KeyBuilder.channel} as `<kind>:<tag>`. */
export const NoticeKind = {
  /** The flag was set: waiters are done. */
  Loaded: 'L',
  /** The lock was released without the flag (loader failed): waiters try the lock. */
  Released: 'R',
  /** The flag was cleared. */
  Cleared: 'C',
} as const;
export type NoticeKind = (typeof NoticeKind)[keyof typeof NoticeKind];

export function encodeNotice(kind: NoticeKind, tag: string): string {
  return `${kind}:${tag}`;
}

export function decodeNotice(message: string): { kind: NoticeKind; tag: string } | undefined {
  const kind = message[0];
  if (message[1] !== ':' || (kind !== 'L' && kind !== 'R' && kind !== 'C')) return undefined;
  return { kind: kind, tag: message.slice(2) };
}
