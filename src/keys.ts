/**
 * The one place keys and channels are built.
 *
 * A user id is percent-encoded (`encodeURIComponent`, which is injective on well-formed strings
 * and escapes `{`, `}`, `:` and `%`), so distinct ids never share keys and no id can reach into
 * the `{...}` hash tag. The hash tag is the user's *group*, one of {@link NOTICE_GROUPS}, hashed
 * from the encoded id: all keys of one user live in one Redis Cluster slot, together with the
 * group's notice channel, so a script can publish a shard-local notice (SPUBLISH) in the same
 * atomic step, and a subscriber listens to a fixed number of channels whatever the number of
 * users.
 *
 * A named load's tag is `<encoded name>|<encoded key>`: `|` is escaped inside either part, so the
 * pair is injective too, and the group is hashed from the key alone, so every load of one key
 * shares its slot. The unnamed load's tag is the encoded key, as before names existed.
 *
 * Layout: `<prefix>:{<group>}:<tag>:loaded|lock|fence|waiting|finished`; the group's generation
 * (bumped by `clearAllLoaded`) at `<prefix>:{<group>}:%gen:generation`; notices on
 * `<prefix>:events` (classic pub/sub) or `<prefix>:{<group>}:events` (sharded, on a Cluster).
 * `%gen` and `%probe` are never a user's tag: `encodeURIComponent` puts two hex digits after `%`.
 */

/**
 * How many groups users are spread over: the number of shard channels a subscriber listens to
 * on a Cluster, and of slots the module's keys use (so up to this many shards share the work).
 * Part of the key layout: changing it moves every key.
 */
export const NOTICE_GROUPS = 256;

export interface UserKeys {
  /** Encoded load name and key (see the layout above), also the payload of notifications. */
  readonly tag: string;
  /** The load's name; undefined for the unnamed load. */
  readonly load: string | undefined;
  /** The user's group: the hash tag of its keys and of its shard channel. */
  readonly group: number;
  readonly loaded: string;
  readonly lock: string;
  readonly fence: string;
  /** Set while someone in another process waits: finish and release publish only then. */
  readonly waiting: string;
  /**
   * The last finish's token and result, kept 30 s or more (same slot): a finish retried after its first
   * attempt ran answers what that attempt did (see the finish script).
   */
  readonly finished: string;
  /** The group's shard channel (same slot as the keys). */
  readonly shardChannel: string;
  /** The group's generation key (same slot): a flag counts only if it holds this generation. */
  readonly generation: string;
}

export function encodeUserId(userId: string): string {
  return encodeURIComponent(userId);
}

/** Separates a load's encoded name from its encoded key in a tag; escaped inside either. */
const LOAD_SEPARATOR = '|';
/** Load names whose tag prefix a {@link KeyBuilder} remembers. */
const MAX_CACHED_NAMES = 1_024;

/** How every tag of the load `name` begins. */
export function loadTagPrefix(name: string): string {
  return `${encodeURIComponent(name)}${LOAD_SEPARATOR}`;
}

/** The key of a tag, decoded (what errors and events call the user id). */
export function decodeUserTag(tag: string): string {
  return decodeURIComponent(tag.slice(tag.indexOf(LOAD_SEPARATOR) + 1));
}

/**
 * The group of a tag: FNV-1a (32 bit) of its key part's UTF-16 units, modulo the group count.
 * Every load of one key is in one group (one slot).
 */
export function groupOf(tag: string): number {
  let hash = 0x811c9dc5;
  for (let i = tag.indexOf(LOAD_SEPARATOR) + 1; i < tag.length; i++) {
    hash ^= tag.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % NOTICE_GROUPS;
}

export class KeyBuilder {
  /** Classic pub/sub channel carrying every completion and invalidation for this prefix. */
  readonly channel: string;
  /** The shard channel of every group, index = group (sharded pub/sub on a Cluster). */
  readonly shardChannels: readonly string[];
  /** The generation key of every group, index = group (see `clearAllLoaded`). */
  readonly generationKeys: readonly string[];
  /** With flags in cache-manager: the one generation key, in the cache. */
  readonly cacheGenerationKey: string;

  /**
   * The key the boot probe writes (and deletes at once), in group 0 with its shard channel:
   * `%probe` is never a user's tag, since `encodeURIComponent` puts two hex digits after `%`.
   */
  readonly probeKey: string;

  /** SCAN pattern matching every key of this prefix (and no other registration's). */
  readonly pattern: string;

  /** Where the registry of load names lives (see `LoadStore.registerLoad`). */
  readonly loadsKey: string;

  /** SCAN pattern matching every flag of the load `name` (and of no other load or prefix). */
  loadFlagsPattern(name: string): string {
    // `*` is the one glob character encodeURIComponent leaves as it is.
    return `${this.prefix}:{*}:${loadTagPrefix(name).replaceAll('*', '\\*')}*:loaded`;
  }

  constructor(readonly prefix: string) {
    this.channel = `${prefix}:events`;
    this.shardChannels = Array.from({ length: NOTICE_GROUPS }, (_, g) => `${prefix}:{${g}}:events`);
    this.probeKey = `${prefix}:{0}:%probe:probe`;
    this.cacheGenerationKey = `${prefix}:%gen:generation`;
    this.generationKeys = Array.from(
      { length: NOTICE_GROUPS },
      (_, g) => `${prefix}:{${g}}:%gen:generation`,
    );
    // `{*}` keeps a prefix from matching another registration's keys (`app` vs `app:settings`);
    // a prefix holds no glob character (the options reject them).
    this.pattern = `${prefix}:{*}:*`;
    // A hash tag no group has: its own slot; `%` keeps it from being a group number.
    this.loadsKey = `${prefix}:{%loads}:names`;
  }

  forUser(userId: string): UserKeys {
    return new UserKeySet(this, encodeUserId(userId), undefined);
  }

  /** The keys of `key` in the load `name` (undefined: the unnamed load, as {@link forUser}). */
  forLoad(name: string | undefined, key: string): UserKeys {
    if (name === undefined) return this.forUser(key);
    let prefix = this.tagPrefixes.get(name);
    if (prefix === undefined) {
      prefix = loadTagPrefix(name);
      // Names are few (one per kind of data); a caller minting them per call is not cached.
      if (this.tagPrefixes.size < MAX_CACHED_NAMES) this.tagPrefixes.set(name, prefix);
    }
    return new UserKeySet(this, `${prefix}${encodeUserId(key)}`, name);
  }

  /** `loadTagPrefix` of the load names seen, so a call does not encode its name again. */
  private readonly tagPrefixes = new Map<string, string>();

  /** True for a load name {@link forLoad} has built keys for (and so was checked before). */
  knowsLoad(name: unknown): boolean {
    return this.tagPrefixes.has(name as string);
  }
}

type KeyNames = Pick<UserKeys, 'loaded' | 'lock' | 'fence' | 'waiting' | 'finished'>;

/** Key names are built on first use: a near-cache hit needs only the tag. */
class UserKeySet implements UserKeys {
  private cached: KeyNames | undefined;
  private groupIndex: number | undefined;

  constructor(
    private readonly keys: KeyBuilder,
    readonly tag: string,
    readonly load: string | undefined,
  ) {}

  get group(): number {
    return (this.groupIndex ??= groupOf(this.tag));
  }
  get shardChannel(): string {
    return this.keys.shardChannels[this.group];
  }
  get generation(): string {
    return this.keys.generationKeys[this.group];
  }
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
  get finished(): string {
    return this.names().finished;
  }

  private names(): KeyNames {
    if (this.cached) return this.cached;
    const base = `${this.keys.prefix}:{${this.group}}:${this.tag}`;
    this.cached = {
      loaded: `${base}:loaded`,
      lock: `${base}:lock`,
      fence: `${base}:fence`,
      waiting: `${base}:waiting`,
      finished: `${base}:finished`,
    };
    return this.cached;
  }
}

/**
 * Notification kinds sent on {@link KeyBuilder.channel} as `<kind>:<tag>`, or
 * `<kind>:<tag>:<token>` for a holder's own 'loaded' notice (the lock token of the load that
 * wrote the flag; a tag never holds ':', a token may).
 */
export const NoticeKind = {
  /** The flag was set: waiters are done. */
  Loaded: 'L',
  /** The lock was released without the flag (loader failed): waiters try the lock. */
  Released: 'R',
  /** The flag was cleared. */
  Cleared: 'C',
  /** Every flag of the prefix was cleared (`clearAllLoaded`); the tag is {@link ALL_USERS_TAG}. */
  ClearedAll: 'A',
} as const;
export type NoticeKind = (typeof NoticeKind)[keyof typeof NoticeKind];

/** The tag of a {@link NoticeKind.ClearedAll} notice: never a user's (see the layout above). */
export const ALL_USERS_TAG = '%all';

export function encodeNotice(kind: NoticeKind, tag: string, holder?: string): string {
  return holder === undefined ? `${kind}:${tag}` : `${kind}:${tag}:${holder}`;
}

export function decodeNotice(
  message: string,
): { kind: NoticeKind; tag: string; holder?: string } | undefined {
  const kind = message[0];
  if (message[1] !== ':' || (kind !== 'L' && kind !== 'R' && kind !== 'C' && kind !== 'A'))
    return undefined;
  const colon = message.indexOf(':', 2);
  if (colon === -1) return { kind, tag: message.slice(2) };
  return { kind, tag: message.slice(2, colon), holder: message.slice(colon + 1) };
}
