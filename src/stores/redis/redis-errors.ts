import { errorText } from '../../errors';
import type { StoreFailure, StoreFailureKind } from '../load-store';

export type { StoreFailure, StoreFailureKind };

/** Reply prefixes (and fixes) of the server's refusals. */
const REFUSALS: ReadonlyArray<readonly [RegExp, string, string]> = [
  [
    /^WRONGPASS/,
    'WRONGPASS',
    'the username or password is wrong (or the ACL user is disabled or unknown): fix the credentials in the redis option',
  ],
  [/^NOAUTH/, 'NOAUTH', 'the server requires a password: add the credentials to the redis option'],
  [
    /^NOPERM/,
    'NOPERM',
    'the ACL user lacks a permission the module needs: grant the rule in the README, "Least-privilege ACL user"',
  ],
  [
    /^ERR The user executing the script can't run this command/,
    'NOPERM (in a script)',
    'the ACL user lacks a command the scripts run: grant the rule in the README, "Least-privilege ACL user"',
  ],
  [
    /^WRONGTYPE/,
    'WRONGTYPE',
    "a key under the module's keyPrefix holds another kind of value: give the module a keyPrefix no one else writes",
  ],
  [
    /^ERR (user_script|Error running script|Error compiling script)/,
    'script error',
    'a Lua script failed on the server: report it, with the Redis version',
  ],
  [
    /^ERR unknown command/,
    'unknown command',
    'the server lacks (or renamed) a command the module needs: Redis 6.2 or later, commands not renamed',
  ],
];

/** Node's TLS and certificate failures (error codes), and how they read in messages. */
const TLS_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'EPROTO',
]);
const TLS_MESSAGE = /certificate|SSL routines|self[- ]signed|wrong version number|altnames/i;
/** Node's codes for the TLS messages that reach us without one (wrapped by a client). */
const TLS_CODE_OF: ReadonlyArray<readonly [RegExp, string]> = [
  [/self[- ]signed certificate in certificate chain/i, 'SELF_SIGNED_CERT_IN_CHAIN'],
  [/self[- ]signed certificate/i, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
  [/unable to verify the first certificate/i, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  [/unable to get (local )?issuer certificate/i, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
  [/certificate has expired/i, 'CERT_HAS_EXPIRED'],
  [/altnames/i, 'ERR_TLS_CERT_ALTNAME_INVALID'],
  [/wrong version number/i, 'ERR_SSL_WRONG_VERSION_NUMBER'],
];

/** Classifies an error of a Redis call or connection (see {@link StoreFailureKind}). */
export function classifyRedisError(error: unknown): StoreFailure {
  const text = errorText(error);
  for (const [pattern, reason, fix] of REFUSALS) {
    if (pattern.test(text)) return { kind: 'rejected', reason, fix };
  }
  const code = (error as { code?: unknown } | undefined)?.code;
  if ((typeof code === 'string' && TLS_CODES.has(code)) || TLS_MESSAGE.test(text)) {
    const tlsCode =
      typeof code === 'string' && TLS_CODES.has(code)
        ? code
        : (TLS_CODE_OF.find(([pattern]) => pattern.test(text))?.[1] ?? 'handshake failed');
    return {
      kind: 'rejected',
      reason: `TLS: ${tlsCode}`,
      fix: 'the TLS setup cannot work: check the CA (tls.ca / socket.ca), the host name in the certificate, and that the port speaks TLS',
    };
  }
  return { kind: 'unreachable', reason: typeof code === 'string' ? code : text };
}

/**
 * A connection that the server closed right after it was opened, again and again, before any
 * reply: at boot, what a TLS port reached without TLS looks like (Redis drops the plaintext).
 */
export const CLOSED_AFTER_CONNECT: StoreFailure = {
  kind: 'rejected',
  reason: 'the server closed the connection right after it was opened, before any reply',
  fix: 'if the server speaks TLS, use a rediss:// URL or tls options; else check the host and port',
};
