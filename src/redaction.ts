/**
 * Keeps passwords out of everything the module says: log lines, error messages, events and
 * health output. Each Redis store registers the secrets of its connection options (passwords,
 * credentials in URLs) while it lives; every text built from a foreign error goes through
 * {@link redact}, and every foreign error handed on (as `cause`, or in an event) through
 * {@link redactError}.
 */
import { isError } from './is-error';

const secrets = new Map<string, number>();

/** Credentials in a URL: `scheme://user:password@` (or `scheme://:password@`). */
const URL_CREDENTIALS = /(\/\/[^\s:/@]*):[^\s@/]+@/g;

/** Registers a secret; the returned function unregisters it (counted, so stores can share one). */
export function registerSecret(secret: string): () => void {
  // Shorter than 3 characters: redacting it would mangle ordinary text, and it protects nothing.
  if (secret.length < 3) return () => undefined;
  secrets.set(secret, (secrets.get(secret) ?? 0) + 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const n = (secrets.get(secret) ?? 1) - 1;
    if (n <= 0) secrets.delete(secret);
    else secrets.set(secret, n);
  };
}

/** `text` with every registered secret and URL password replaced by `***`. */
export function redact(text: string): string {
  let out = text.replace(URL_CREDENTIALS, '$1:***@');
  for (const secret of secrets.keys()) {
    if (out.includes(secret)) out = out.split(secret).join('***');
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret && out.includes(encoded)) out = out.split(encoded).join('***');
  }
  return out;
}

/**
 * A foreign error as it may be handed on: a new Error with its name, code, and redacted message
 * and stack — nothing else. A client's error can carry the failed command with its arguments
 * (ioredis: `command.args` of an AUTH holds the password), so the original never leaves.
 */
export function redactError(error: unknown): unknown {
  if (!isError(error)) return typeof error === 'string' ? redact(error) : error;
  const copy = new Error(redact(error.message));
  copy.name = error.name;
  copy.stack = error.stack === undefined ? undefined : redact(error.stack);
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') {
    (copy as { code?: unknown }).code = code;
  }
  return copy;
}

/** Keys whose string values are secrets, wherever they sit in a client's options. */
const SECRET_KEY = /pass(word)?|secret|token|credential/i;

/**
 * The secrets in connection options or a client's options object: values of password-like keys
 * and passwords inside URLs, searched a few levels deep (sentinel, cluster and TLS options nest).
 */
export function secretsIn(value: unknown, depth = 4, seen = new Set<unknown>()): string[] {
  if (typeof value === 'string') return urlPassword(value);
  if (typeof value !== 'object' || value === null || depth < 0 || seen.has(value)) return [];
  seen.add(value);
  const found: string[] = [];
  const entries = Array.isArray(value)
    ? value.map((v, i) => [String(i), v] as const)
    : Object.entries(value as Record<string, unknown>);
  for (const [key, v] of entries) {
    if (typeof v === 'string' && SECRET_KEY.test(key)) found.push(v);
    else if (typeof v === 'string') found.push(...urlPassword(v));
    else if (typeof v === 'object' && v !== null && !Buffer.isBuffer(v))
      found.push(...secretsIn(v, depth - 1, seen));
  }
  return found;
}

function urlPassword(text: string): string[] {
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^\s]*@/i.test(text)) return [];
  try {
    const password = new URL(text).password;
    return password ? [decodeURIComponent(password), password] : [];
  } catch {
    return [];
  }
}
