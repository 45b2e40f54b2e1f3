/**
 * How a Redis failure is classified: a refusal (the server answered no; no policy makes it right
 * to go on) or an outage (`onStoreError` applies). Each reply is the text Redis 7 and Node 20 give;
 * the managed specs meet most of them on real servers, and this table holds every one, with the
 * reason and the fix the logs and the health check show.
 */
import { classifyRedisError } from '../../src/stores/redis/redis-errors';

const coded = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('classifyRedisError', () => {
  it.each<[string, string, RegExp]>([
    ['WRONGPASS invalid username-password pair or user is disabled.', 'WRONGPASS', /credentials/],
    ['NOAUTH Authentication required.', 'NOAUTH', /add the credentials/],
    ["NOPERM User app has no permissions to run the 'set' command", 'NOPERM', /Least-privilege/],
    [
      "ERR The user executing the script can't run this command or subcommand script: 4c1b, on @user_script:1.",
      'NOPERM (in a script)',
      /Least-privilege/,
    ],
    ['WRONGTYPE Operation against a key holding the wrong kind of value', 'WRONGTYPE', /keyPrefix/],
    [
      'ERR user_script:1: Script attempted to access nonexistent global variable',
      'script error',
      /Lua/,
    ],
    ['ERR Error running script (call to f_1): @user_script:1: boom', 'script error', /Lua/],
    ['ERR Error compiling script (new function): user_script:1: syntax', 'script error', /Lua/],
    [
      "ERR unknown command 'FCALL', with args beginning with: ",
      'unknown command',
      /Redis 6\.2 or later/,
    ],
  ])('%s → rejected (%s)', (message, reason, fix) => {
    const failure = classifyRedisError(new Error(message));
    expect(failure).toEqual({ kind: 'rejected', reason, fix: expect.stringMatching(fix) });
  });

  it('reads a refusal only at the start of the reply', () => {
    expect(classifyRedisError(new Error('Reply was: WRONGPASS somewhere inside'))).toEqual({
      kind: 'unreachable',
      reason: 'Reply was: WRONGPASS somewhere inside',
    });
  });

  it('classifies a refusal that is not an Error (a client rejecting with its reply text)', () => {
    expect(classifyRedisError('NOAUTH Authentication required.')).toMatchObject({
      kind: 'rejected',
      reason: 'NOAUTH',
    });
  });

  it.each([
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
  ])("Node's TLS code %s → rejected, the code named", (code) => {
    expect(classifyRedisError(coded('anything', code))).toEqual({
      kind: 'rejected',
      reason: `TLS: ${code}`,
      fix: expect.stringMatching(/^the TLS setup cannot work: check the CA/),
    });
  });

  it.each([
    ['self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN'],
    ['self signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'],
    ['unable to verify the first certificate', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['unable to get local issuer certificate', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
    ['unable to get issuer certificate', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
    ['certificate has expired', 'CERT_HAS_EXPIRED'],
    [
      "Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list",
      'ERR_TLS_CERT_ALTNAME_INVALID',
    ],
    [
      'C0F7:error:0A00010B:SSL routines:ssl3_get_record:wrong version number',
      'ERR_SSL_WRONG_VERSION_NUMBER',
    ],
  ])('a TLS failure known by its message only ("%s") → rejected as %s', (message, code) => {
    // A client that wraps the socket's error keeps the message and drops the code.
    expect(classifyRedisError(new Error(message))).toMatchObject({
      kind: 'rejected',
      reason: `TLS: ${code}`,
    });
    // With another, non-TLS code beside it, the message still decides.
    expect(classifyRedisError(coded(message, 'ECONNRESET'))).toMatchObject({
      reason: `TLS: ${code}`,
    });
  });

  it('a TLS failure whose message names no known cause → "handshake failed"', () => {
    expect(classifyRedisError(new Error('SSL routines::tlsv1 alert internal error'))).toMatchObject(
      { kind: 'rejected', reason: 'TLS: handshake failed' },
    );
  });

  it('anything else is an outage, its reason the code, or the text without one', () => {
    expect(classifyRedisError(coded('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'))).toEqual({
      kind: 'unreachable',
      reason: 'ECONNREFUSED',
    });
    expect(classifyRedisError(new Error('Connection is closed.'))).toEqual({
      kind: 'unreachable',
      reason: 'Connection is closed.',
    });
    expect(classifyRedisError(Object.assign(new Error('odd'), { code: 42 }))).toEqual({
      kind: 'unreachable',
      reason: 'odd',
    });
    expect(classifyRedisError(undefined)).toEqual({ kind: 'unreachable', reason: 'undefined' });
  });
});
