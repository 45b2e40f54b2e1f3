import calculateSlot from 'cluster-key-slot';
import fc from 'fast-check';
import {
  decodeNotice,
  decodeUserTag,
  encodeNotice,
  groupOf,
  loadTagPrefix,
  KeyBuilder,
  NOTICE_GROUPS,
  NoticeKind,
} from '../../src/keys';
import { checkLoadName, MAX_USER_ID_LENGTH, normalizeUserId } from '../../src/validation';

/** Every id the library accepts: well-formed, non-blank strings of 1..1024 UTF-16 units. */
const userId = fc
  .oneof(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 }),
    fc.string({
      unit: fc.constantFrom('{', '}', ':', '%', '\n', ' ', 'a', '7', 'é', '😀'),
      minLength: 1,
      maxLength: 32,
    }),
    fc.string({ unit: 'binary', minLength: 1, maxLength: MAX_USER_ID_LENGTH / 2 }),
  )
  .filter((s) => s.length <= MAX_USER_ID_LENGTH && s.trim().length > 0 && s.isWellFormed());

const keys = new KeyBuilder('prefix');
const all = (id: string) => {
  const k = keys.forUser(id);
  return [k.loaded, k.lock, k.fence, k.waiting];
};

/** Every load name the library accepts (undefined: the unnamed load). */
const loadName = fc.option(
  fc
    .oneof(
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 32 }),
      fc.string({
        unit: fc.constantFrom('|', '%', '{', ':', '.', 'a', '7C'),
        minLength: 1,
        maxLength: 8,
      }),
    )
    .filter((s) => {
      try {
        return checkLoadName('name', s) === s;
      } catch {
        return false;
      }
    }),
  { nil: undefined },
);

const allOf = (load: string | undefined, id: string) => {
  const k = keys.forLoad(load, id);
  return [k.loaded, k.lock, k.fence, k.waiting, k.tag];
};

describe('keys', () => {
  it('never maps two distinct (load, key) pairs to the same key or tag', () => {
    fc.assert(
      fc.property(loadName, userId, loadName, userId, (la, a, lb, b) => {
        fc.pre(la !== lb || a !== b);
        const ka = allOf(la, a);
        for (const x of allOf(lb, b)) expect(ka).not.toContain(x);
      }),
      { numRuns: 3_000 },
    );
  });

  it('puts every load of one key in one group, and keeps both halves of a tag', () => {
    fc.assert(
      fc.property(loadName, userId, (load, id) => {
        const k = keys.forLoad(load, id);
        expect(k.group).toBe(keys.forUser(id).group);
        expect(calculateSlot(k.lock)).toBe(calculateSlot(keys.forUser(id).lock));
        expect(decodeUserTag(k.tag)).toBe(id);
        expect(k.load).toBe(load);
        expect(k.tag.startsWith(load === undefined ? '' : loadTagPrefix(load))).toBe(true);
        expect(k.tag).not.toContain(':');
      }),
      { numRuns: 2_000 },
    );
  });

  it('keeps the unnamed load on the key layout of 0.2', () => {
    expect(keys.forLoad(undefined, 'u:1').lock).toBe(keys.forUser('u:1').lock);
    expect(keys.forLoad('servers', 'u:1').lock).toBe(
      `prefix:{${keys.forUser('u:1').group}}:servers|u%3A1:lock`,
    );
  });

  it('never maps two distinct user ids to the same key or notice', () => {
    fc.assert(
      fc.property(userId, userId, (a, b) => {
        fc.pre(a !== b);
        const ka = all(a);
        const kb = all(b);
        for (const x of ka) expect(kb).not.toContain(x);
        expect(encodeNotice(NoticeKind.Loaded, keys.forUser(a).tag)).not.toBe(
          encodeNotice(NoticeKind.Loaded, keys.forUser(b).tag),
        );
      }),
      { numRuns: 2_000 },
    );
  });

  it('round-trips every id through its tag, so notices name exactly one user', () => {
    fc.assert(
      fc.property(userId, fc.constantFrom(...Object.values(NoticeKind)), (id, kind) => {
        const tag = keys.forUser(id).tag;
        expect(decodeUserTag(tag)).toBe(id);
        expect(decodeNotice(encodeNotice(kind, tag))).toEqual({ kind, tag });
        // A holder's token (it may hold ':') comes back whole beside the tag.
        const holder = `${id}:${tag}:7`;
        expect(decodeNotice(encodeNotice(kind, tag, holder))).toEqual({ kind, tag, holder });
      }),
      { numRuns: 2_000 },
    );
  });

  it('puts every key of one user, and its shard channel, in one Cluster hash slot, whatever braces the id holds', () => {
    fc.assert(
      fc.property(userId, (id) => {
        const k = keys.forUser(id);
        expect(k.tag).not.toMatch(/[{}]/);
        const slot = calculateSlot(k.loaded);
        expect(calculateSlot(k.lock)).toBe(slot);
        expect(calculateSlot(k.fence)).toBe(slot);
        expect(calculateSlot(k.waiting)).toBe(slot);
        // The script that writes the keys publishes on the group's channel in the same step.
        expect(calculateSlot(k.shardChannel)).toBe(slot);
        // The hash tag is exactly the group: the id cannot move the slot.
        expect(slot).toBe(calculateSlot(String(k.group)));
        expect(k.group).toBe(groupOf(k.tag));
      }),
      { numRuns: 2_000 },
    );
  });

  it('spreads users over every group, and the groups over most of the slots', () => {
    const groups = new Map<number, number>();
    for (let i = 0; i < 100_000; i++) {
      const g = keys.forUser(`user-${i}`).group;
      groups.set(g, (groups.get(g) ?? 0) + 1);
    }
    expect(groups.size).toBe(NOTICE_GROUPS);
    const counts = [...groups.values()];
    // 100k / 256 ≈ 391 per group: none far from it.
    expect(Math.min(...counts)).toBeGreaterThan(300);
    expect(Math.max(...counts)).toBeLessThan(500);
    const slots = new Set(keys.shardChannels.map((c) => calculateSlot(c)));
    expect(slots.size).toBeGreaterThan(NOTICE_GROUPS * 0.95);
  });

  it('accepts every generated id and rejects blank, oversized and malformed ones', () => {
    fc.assert(fc.property(userId, (id) => expect(normalizeUserId(id)).toBe(id)));
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom(' ', '\t', '\n', '\u00a0'),
          minLength: 0,
          maxLength: 20,
        }),
        (blank) => {
          expect(() => normalizeUserId(blank)).toThrow(/empty|whitespace/);
        },
      ),
    );
    expect(() => normalizeUserId('x'.repeat(MAX_USER_ID_LENGTH + 1))).toThrow(
      /1025 characters long/,
    );
    expect(() => normalizeUserId('a\ud800b')).toThrow(/surrogate/);
    expect(normalizeUserId(42)).toBe('42');
  });
});
