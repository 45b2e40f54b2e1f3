/**
 * RedisSubscriber's own rules, as a unit over a connection the test drives (the store contract,
 * the near-cache and the managed specs reach it through real servers, Cluster and Sentinel
 * included): which messages become notices, when it counts as live, when the listener is told to
 * re-check, one subscribe at a time, and how a refusal is logged (once per cause, not while
 * closing, not at boot, where the store's init reports it).
 */
import { setImmediate as flush } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { encodeNotice, NoticeKind } from '../../src/keys';
import type { StoreListener, StoreNotice } from '../../src/stores/load-store';
import type {
  NotificationConnection,
  NotificationHandlers,
} from '../../src/stores/redis/redis-commands';
import { RedisSubscriber } from '../../src/stores/redis/redis-subscriber';
import { deferred } from '../support/apps';

const noPerm = () => new Error("NOPERM No permissions to access the 'ls:a' channel");
const wrongPass = () => new Error('WRONGPASS invalid username-password pair or user is disabled.');

/** A connection whose events and subscribe replies the test sends. */
class ScriptedConnection implements NotificationConnection {
  up = false;
  handlers!: NotificationHandlers;
  readonly subscribes: Array<{
    channels: readonly string[];
    reply: ReturnType<typeof deferred<void>>;
  }> = [];
  closed = 0;

  open(handlers: NotificationHandlers): void {
    this.handlers = handlers;
  }

  subscribe(channels: readonly string[]): Promise<void> {
    const reply = deferred();
    this.subscribes.push({ channels, reply });
    return reply.promise;
  }

  close(): Promise<void> {
    this.closed++;
    this.up = false;
    return Promise.resolve();
  }

  /** The latest subscribe, answered. */
  async answer(error?: unknown): Promise<void> {
    const { reply } = this.subscribes.at(-1)!;
    if (error === undefined) reply.resolve();
    else reply.reject(error);
    await flush();
  }

  ready(): void {
    this.up = true;
    this.handlers.ready();
  }

  down(): void {
    this.up = false;
    this.handlers.down();
  }
}

describe('RedisSubscriber', () => {
  let logger: Logger;
  let warn: jest.SpyInstance;
  let log: jest.SpyInstance;
  let error: jest.SpyInstance;
  let debug: jest.SpyInstance;
  let connection: ScriptedConnection;
  let subscriber: RedisSubscriber;
  let notices: StoreNotice[];
  let resubscribed: number;
  const listener: StoreListener = {
    notice: (notice) => notices.push(notice),
    resubscribed: () => resubscribed++,
  };

  beforeEach(() => {
    logger = new Logger('LoadStatus');
    warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    log = jest.spyOn(logger, 'log').mockImplementation(() => undefined);
    error = jest.spyOn(logger, 'error').mockImplementation(() => undefined);
    debug = jest.spyOn(logger, 'debug').mockImplementation(() => undefined);
    connection = new ScriptedConnection();
    subscriber = new RedisSubscriber(logger);
    notices = [];
    resubscribed = 0;
  });

  /** Starts on `channels`, the boot's subscribe answered at once. */
  async function started(channels = ['ls:a', 'ls:b']): Promise<void> {
    const start = subscriber.start(connection, channels, listener);
    connection.up = true;
    await connection.answer();
    await start;
  }

  it('start() resolves once subscribed to every channel, and is live while the connection is up', async () => {
    const start = subscriber.start(connection, ['ls:a', 'ls:b'], listener);
    let done = false;
    void start.then(() => (done = true));
    await flush();
    expect(done).toBe(false);
    expect(subscriber.live).toBe(false);
    expect(connection.subscribes.map((s) => s.channels)).toEqual([['ls:a', 'ls:b']]);
    connection.up = true;
    await connection.answer();
    expect(done).toBe(true);
    expect(subscriber.live).toBe(true);
    // The boot's own subscribe is no re-subscription: nothing can have been missed yet.
    expect(resubscribed).toBe(0);
    connection.up = false; // live needs the connection up, not only the subscription made
    expect(subscriber.live).toBe(false);
  });

  it('start() fails with the refusal of the boot, logging nothing (the store init reports it)', async () => {
    const start = subscriber.start(connection, ['ls:a'], listener);
    const refusal = noPerm();
    const failed = expect(start).rejects.toBe(refusal);
    await connection.answer(refusal);
    await failed;
    expect(error).not.toHaveBeenCalled();
    expect(warn).not.toHaveBeenCalled();
    expect(subscriber.live).toBe(false);
  });

  it('turns messages on its channels into notices, and ignores other channels and foreign messages', async () => {
    await started();
    connection.handlers.message('ls:a', encodeNotice(NoticeKind.Loaded, 'u1', 'holder'));
    connection.handlers.message('ls:b', encodeNotice(NoticeKind.Released, 'u2'));
    connection.handlers.message('other', encodeNotice(NoticeKind.Loaded, 'u3'));
    connection.handlers.message('ls:a', 'not a notice');
    expect(notices).toEqual([
      { kind: NoticeKind.Loaded, tag: 'u1', holder: 'holder' },
      { kind: NoticeKind.Released, tag: 'u2' },
    ]);
  });

  it('is not live from a drop until it has subscribed again, and then tells the listener to re-check', async () => {
    await started();
    connection.down();
    expect(subscriber.live).toBe(false);
    connection.ready();
    await flush();
    expect(subscriber.live).toBe(false); // up, but the subscription is not confirmed yet
    expect(connection.subscribes).toHaveLength(2);
    await connection.answer();
    expect(subscriber.live).toBe(true);
    expect(resubscribed).toBe(1);
  });

  it('sends no second subscribe while one is in flight, nor while subscribed', async () => {
    await started();
    connection.ready(); // a 'ready' while subscribed already
    await flush();
    expect(connection.subscribes).toHaveLength(1);
    connection.down();
    connection.ready();
    connection.ready();
    await flush();
    expect(connection.subscribes).toHaveLength(2);
    await connection.answer();
    expect(resubscribed).toBe(1);
    // Done: the next drop subscribes again.
    connection.down();
    connection.ready();
    await flush();
    expect(connection.subscribes).toHaveLength(3);
  });

  it('logs a failed re-subscribe as a warning, and tries again at the next ready', async () => {
    await started();
    connection.down();
    connection.ready();
    await connection.answer(new Error('Connection is closed.'));
    expect(warn).toHaveBeenCalledWith('subscribe failed: Connection is closed.');
    expect(subscriber.live).toBe(false);
    expect(resubscribed).toBe(0);
    connection.ready();
    await connection.answer();
    expect(subscriber.live).toBe(true);
    expect(resubscribed).toBe(1);
    expect(log).not.toHaveBeenCalled(); // no refusal was seen, so nothing "accepts again"
  });

  it('logs a refusal after the boot once per cause, naming the channels, and its end once', async () => {
    await started(['ls:a', 'ls:b', 'ls:c']);
    connection.down();
    connection.ready();
    await connection.answer(noPerm());
    expect(error).toHaveBeenCalledTimes(1);
    expect(error.mock.calls[0]![0]).toMatch(
      /^Redis rejected the subscription to ls:a and 2 more \(NOPERM: NOPERM No permissions .*\); the ACL user lacks a permission/,
    );
    expect(warn).not.toHaveBeenCalled();
    expect(subscriber.rejection?.reason).toBe('NOPERM');
    // The same cause again: not logged again. A new cause: logged.
    connection.ready();
    await connection.answer(noPerm());
    expect(error).toHaveBeenCalledTimes(1);
    connection.ready();
    await connection.answer(wrongPass());
    expect(error).toHaveBeenCalledTimes(2);
    expect(subscriber.rejection?.reason).toBe('WRONGPASS');
    // Accepted again: said once, the rejection forgotten, the listener told to re-check.
    connection.ready();
    await connection.answer();
    expect(log.mock.calls).toEqual([['Redis accepts the subscription again']]);
    expect(subscriber.rejection).toBeUndefined();
    expect(resubscribed).toBe(1);
  });

  it('names a single channel alone in the refusal', async () => {
    await started(['ls:only']);
    connection.down();
    connection.ready();
    await connection.answer(noPerm());
    expect(error.mock.calls[0]![0]).toMatch(/^Redis rejected the subscription to ls:only \(NOPERM/);
  });

  it("logs a connection error at debug, and a refusal seen as one like a subscribe's", async () => {
    await started(['ls:a']);
    connection.handlers.error(new Error('read ECONNRESET'));
    expect(debug).toHaveBeenCalledWith('redis subscriber error: read ECONNRESET');
    connection.handlers.error(wrongPass());
    expect(debug).toHaveBeenCalledTimes(1);
    expect(error).toHaveBeenCalledTimes(1);
    expect(subscriber.rejection?.reason).toBe('WRONGPASS');
  });

  it('close(): closes the connection, is no longer live, and logs or hears nothing after', async () => {
    await started(['ls:a']);
    connection.down();
    connection.ready(); // a re-subscribe in flight when the store closes
    await flush();
    await subscriber.close();
    expect(connection.closed).toBe(1);
    expect(subscriber.live).toBe(false);
    await connection.answer(); // its reply comes after the close
    expect(subscriber.live).toBe(false);
    expect(resubscribed).toBe(0);
    connection.handlers.error(wrongPass()); // the connection refused while closing: quiet
    connection.handlers.message('ls:a', encodeNotice(NoticeKind.Loaded, 'u'));
    connection.ready();
    await flush();
    expect(connection.subscribes).toHaveLength(2);
    expect(notices).toEqual([]);
    expect(error).not.toHaveBeenCalled();
    expect(debug).not.toHaveBeenCalled(); // a refusal while closing is not an error to log either
    expect(subscriber.rejection).toBeUndefined();
    await subscriber.close(); // twice: nothing left to close
    expect(connection.closed).toBe(1);
  });

  it('close() before start closes nothing', async () => {
    await expect(subscriber.close()).resolves.toBeUndefined();
    expect(subscriber.live).toBe(false);
  });
});
