/**
 * Errors the module did not make may come from another realm (a vm context; under Jest, every
 * error Node's own sockets raise), where `instanceof Error` is false. They are still errors:
 * redacted before they are handed on, passed through with their code, and quoted by message.
 */
import { runInNewContext } from 'node:vm';
import { errorText } from '../../src/errors';
import { registerSecret, redactError } from '../../src/redaction';
import { CommandDeadlines } from '../../src/stores/command-deadlines';

const SECRET = 'foreign-secret-7f3a';

/** An Error of another realm, with a code, as a socket's would be. */
function foreignError(message: string): Error {
  const error = runInNewContext('new Error(message)', { message }) as Error & { code?: string };
  error.code = 'ECONNREFUSED';
  return error;
}

describe('an error from another realm', () => {
  let forget: () => void;
  beforeAll(() => (forget = registerSecret(SECRET)));
  afterAll(() => forget());

  it('is one for instanceof in its own realm only (the premise)', () => {
    expect(foreignError('x')).not.toBeInstanceOf(Error);
  });

  it('is handed on redacted, with its name and code', () => {
    const copy = redactError(foreignError(`AUTH default ${SECRET} failed`)) as Error & {
      code?: string;
    };
    expect(copy).toBeInstanceOf(Error);
    expect(copy.message).toBe('AUTH default *** failed');
    expect(copy.stack).not.toContain(SECRET);
    expect(copy).toMatchObject({ name: 'Error', code: 'ECONNREFUSED' });
  });

  it('is quoted by its message', () => {
    expect(errorText(foreignError('connect ECONNREFUSED 127.0.0.1:1'))).toBe(
      'connect ECONNREFUSED 127.0.0.1:1',
    );
  });

  it('rejects a bounded command as it came, not wrapped (its code kept)', async () => {
    const deadlines = CommandDeadlines.forStore(1_000);
    const error = foreignError('connect ECONNREFUSED 127.0.0.1:1');
    try {
      await expect(deadlines.bound('acquire', Promise.reject(error))).rejects.toBe(error);
    } finally {
      deadlines.close();
    }
  });
});
