/** What the secret-search specs share: every string of a value, and the secrets a text holds. */

/** Every string in `value`, however deep (messages, stacks, causes, nested details). */
export function textOf(value: unknown, seen = new Set<unknown>()): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'function') return value.name;
  if (typeof value !== 'object') return `${value as string}`;
  if (seen.has(value)) return '';
  seen.add(value);
  if (value instanceof Error) {
    const e = value as Error & { cause?: unknown };
    return [e.name, e.message, e.stack, textOf(e.cause, seen), textOf({ ...e }, seen)].join('\n');
  }
  return Object.values(value as Record<string, unknown>)
    .map((v) => textOf(v, seen))
    .join('\n');
}

/** The `secrets` that `text` holds (as they are or URL-encoded), and any URL with a password still in it. */
export function leaksIn(text: string, secrets: readonly string[]): string[] {
  const found = secrets.filter((s) => text.includes(s) || text.includes(encodeURIComponent(s)));
  if (/\/\/[^\s/@]*:[^\s/@*]+@/.test(text)) found.push('a URL with a password');
  return found;
}
