/**
 * CommandDeadlines' own rules, as a unit on Jest's clock: when a command without a reply is
 * rejected, what a late reply does, the one shared timer and when it stops, and close(). The
 * stores reach it through real Redis servers (an outage is a command with no reply), but a real
 * outage cannot tell a deadline of 100 ms from one of 125 ms.
 */
import { Redis } from 'ioredis';
import { LoadStatusUnavailableError } from '../../src/errors';
import { CommandDeadlines } from '../../src/stores/command-deadlines';
import { deferred as command } from '../support/apps';
import { RedisServer } from '../support/redis-server';

/** The outcome of `promise` once it settles, and when (on Jest's clock). */
function track<T>(promise: Promise<T>): {
  settledAt: number | undefined;
  value?: T;
  error?: unknown;
} {
  const outcome: { settledAt: number | undefined; value?: T; error?: unknown } = {
    settledAt: undefined,
  };
  promise.then(
    (value) => Object.assign(outcome, { settledAt: Date.now(), value }),
    (error: unknown) => Object.assign(outcome, { settledAt: Date.now(), error }),
  );
  return outcome;
}

describe('CommandDeadlines', () => {
  const timedOut = (operation: string) => new Error(`timed out: ${operation}`);
  let start: number;
  beforeEach(() => {
    jest.useFakeTimers();
    start = Date.now();
  });
  afterEach(() => jest.useRealTimers());

  // On Jest's clock a sweep's rejections run at once (the real clock defers them past the poll
  // phase; see the real-clock suite below).
  const deadlines = (timeoutMs: number) =>
    new CommandDeadlines(
      timeoutMs,
      timedOut,
      () => Date.now(),
      (run) => run(),
    );

  it("passes a reply in time through, and a command's failure as an Error", async () => {
    const bound = deadlines(100);
    await expect(bound.bound('get', Promise.resolve('value'))).resolves.toBe('value');
    const failure = new Error('READONLY');
    await expect(bound.bound('set', Promise.reject(failure))).rejects.toBe(failure);
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the case under test
    const thrown = bound.bound('set', Promise.reject('a string, not an Error'));
    await expect(thrown).rejects.toThrow(new Error('a string, not an Error'));
    await expect(thrown).rejects.toBeInstanceOf(Error);
    await jest.advanceTimersByTimeAsync(25); // the next sweep finds nothing in flight
    expect(jest.getTimerCount()).toBe(0);
  });

  it('rejects a command with no reply at its deadline (never before), naming the operation', async () => {
    // 100 ms: swept every 25 ms, so rejected on the sweep at 100 ms.
    const bound = deadlines(100);
    const silent = track(bound.bound('acquire', command<string>().promise));
    await jest.advanceTimersByTimeAsync(99);
    expect(silent.settledAt).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(silent.settledAt).toBe(start + 100);
    expect(silent.error).toEqual(new Error('timed out: acquire'));
  });

  it('sweeps every timeoutMs / 4, at least every 250 ms and at most every 5 ms', async () => {
    // 1,100 ms: a quarter is 275 ms, capped at 250: the sweeps at 1,000 and 1,250 ms, so 1,250.
    const long = track(deadlines(1_100).bound('get', command().promise));
    // 12 ms: a quarter is 3 ms, raised to 5: the sweeps at 10 and 15 ms, so 15.
    const short = track(deadlines(12).bound('get', command().promise));
    await jest.advanceTimersByTimeAsync(14);
    expect(short.settledAt).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(short.settledAt).toBe(start + 15);
    await jest.advanceTimersByTimeAsync(1_249 - 15);
    expect(long.settledAt).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(long.settledAt).toBe(start + 1_250);
  });

  it('counts each deadline from when its command was sent', async () => {
    const bound = deadlines(100);
    const first = track(bound.bound('first', command().promise));
    await jest.advanceTimersByTimeAsync(60);
    const second = track(bound.bound('second', command().promise));
    await jest.advanceTimersByTimeAsync(40);
    expect(first.settledAt).toBe(start + 100);
    // Due at 160 ms: swept at 175 ms (the sweeps run at 25 ms steps of the one timer).
    await jest.advanceTimersByTimeAsync(74);
    expect(second.settledAt).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(second.settledAt).toBe(start + 175);
    expect(second.error).toEqual(new Error('timed out: second'));
  });

  it('drops a reply that comes after the deadline', async () => {
    const bound = deadlines(100);
    const late = command<string>();
    const outcome = track(bound.bound('get', late.promise));
    await jest.advanceTimersByTimeAsync(100);
    late.resolve('too late');
    const failed = command<string>();
    const failedOutcome = track(bound.bound('get', failed.promise));
    await jest.advanceTimersByTimeAsync(100);
    failed.reject(new Error('too late as well'));
    await jest.advanceTimersByTimeAsync(0);
    expect(outcome).toEqual({ settledAt: start + 100, error: new Error('timed out: get') });
    expect(failedOutcome).toEqual({ settledAt: start + 200, error: new Error('timed out: get') });
  });

  it('runs one timer, only while a command is in flight', async () => {
    const bound = deadlines(100);
    const a = command<number>();
    const b = command<number>();
    const pa = bound.bound('a', a.promise);
    const pb = bound.bound('b', b.promise);
    expect(jest.getTimerCount()).toBe(1);
    a.resolve(1);
    await pa;
    expect(jest.getTimerCount()).toBe(1); // b is still in flight
    await jest.advanceTimersByTimeAsync(50);
    b.resolve(2);
    await pb;
    // The timer stops on the sweep that finds nothing in flight, not before.
    expect(jest.getTimerCount()).toBe(1);
    await jest.advanceTimersByTimeAsync(25);
    expect(jest.getTimerCount()).toBe(0);
    // A later command starts it again, and still gets its deadline.
    const again = track(bound.bound('again', command().promise));
    expect(jest.getTimerCount()).toBe(1);
    await jest.advanceTimersByTimeAsync(100);
    expect(again.settledAt).toBe(start + 175);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('keeps sweeping while any command is in flight, and leaves the others alone', async () => {
    const bound = deadlines(100);
    const silent = track(bound.bound('silent', command().promise));
    await jest.advanceTimersByTimeAsync(50);
    const answered = command<string>();
    const replied = track(bound.bound('answered', answered.promise));
    await jest.advanceTimersByTimeAsync(50);
    expect(silent.settledAt).toBe(start + 100);
    expect(replied.settledAt).toBeUndefined();
    expect(jest.getTimerCount()).toBe(1);
    answered.resolve('in time');
    await jest.advanceTimersByTimeAsync(0);
    expect(replied).toEqual({ settledAt: start + 100, value: 'in time' });
  });

  it('close() rejects what is in flight at once with the timeout error, and stops the timer', async () => {
    const bound = deadlines(100);
    const pending = command<string>();
    const first = track(bound.bound('first', pending.promise));
    const second = track(bound.bound('second', command().promise));
    await jest.advanceTimersByTimeAsync(10);
    bound.close();
    expect(jest.getTimerCount()).toBe(0);
    pending.resolve('after close');
    await jest.advanceTimersByTimeAsync(0);
    expect(first).toEqual({ settledAt: start + 10, error: new Error('timed out: first') });
    expect(second).toEqual({ settledAt: start + 10, error: new Error('timed out: second') });
  });

  it('forStore: the timeout is a LoadStatusUnavailableError naming the operation and the bound', async () => {
    const silent = track(CommandDeadlines.forStore(40).bound('isLoaded', command().promise));
    // On its own clock (performance.now, faked by Jest too): not before the 40 ms.
    await jest.advanceTimersByTimeAsync(39);
    expect(silent.settledAt).toBeUndefined();
    await jest.advanceTimersByTimeAsync(11);
    const error = silent.error as LoadStatusUnavailableError;
    expect(error).toBeInstanceOf(LoadStatusUnavailableError);
    expect(error.message).toContain('isLoaded');
    expect((error.cause as Error).message).toBe('no reply within 40 ms');
  });
});

describe('CommandDeadlines in a process frozen past a deadline (real clock, real Redis)', () => {
  let server: RedisServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await RedisServer.start();
    redis = new Redis(server.url);
    await redis.ping();
  });
  afterAll(async () => {
    await redis.quit();
    await server.stop();
  });

  it('lets a reply that arrived while the process was frozen win over the deadline that passed meanwhile', async () => {
    const bound = CommandDeadlines.forStore(50);
    // Sent from the check phase; the process is then frozen for 200 ms (the reply arrives, the
    // deadline passes), so the sweep's timer comes due before the poll phase reads the reply.
    const outcome = await new Promise<PromiseSettledResult<string>>((resolve) =>
      setImmediate(() => {
        const reply = bound.bound('ping', redis.ping());
        const frozenUntil = performance.now() + 200;
        while (performance.now() < frozenUntil); // the freeze itself (a GC pause, a SIGSTOP)
        void Promise.allSettled([reply]).then(([settled]) => resolve(settled));
      }),
    );
    expect(outcome).toEqual({ status: 'fulfilled', value: 'PONG' });
    bound.close();
  });

  it('still rejects a command whose reply had not come when the deadline passed', async () => {
    const bound = CommandDeadlines.forStore(50);
    await redis.client('PAUSE', 300, 'ALL');
    const outcome = await Promise.allSettled([bound.bound('ping', redis.ping())]);
    expect(outcome[0]).toMatchObject({
      status: 'rejected',
      reason: expect.any(LoadStatusUnavailableError),
    });
    bound.close();
  });
});
