import { types } from 'node:util';

/**
 * An Error of any realm: `instanceof Error` misses those made in another one (Node's own socket
 * errors as code run under Jest or in a vm context sees them), and wrapping or skipping them
 * would lose their `code` and message.
 */
export function isError(value: unknown): value is Error {
  return value instanceof Error || types.isNativeError(value);
}
