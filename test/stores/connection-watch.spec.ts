/**
 * ConnectionWatch's own rules, as a unit over event emitters standing in for the clients (the
 * managed specs reach it through real servers that refuse: a wrong password, a TLS port reached
 * without TLS). What counts as the rejection a connection is stuck on, when it is forgotten, and
 * when a boot that never connected is blamed on a server that closes every connection at once.
 */
import { EventEmitter } from 'node:events';
import { setImmediate as delivered } from 'node:timers/promises';
import { CLOSED_AFTER_CONNECT } from '../../src/stores/redis/redis-errors';
import { ConnectionWatch } from '../../src/stores/redis/connection-watch';

const wrongPass = () => new Error('WRONGPASS invalid username-password pair or user is disabled.');
const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });

/** How each client words a connection the peer closed. */
const closedByPeer: Array<[string, () => Error]> = [
  ['code ECONNRESET', () => Object.assign(new Error('reset'), { code: 'ECONNRESET' })],
  ['code EPIPE', () => Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })],
  ['node-redis: "Socket closed unexpectedly"', () => new Error('Socket closed unexpectedly')],
  ['"socket hang up"', () => new Error('socket hang up')],
  ['"read ECONNRESET" (no code)', () => new Error('read ECONNRESET')],
];

describe('ConnectionWatch', () => {
  let client: EventEmitter;
  let watch: ConnectionWatch;
  beforeEach(() => {
    client = new EventEmitter();
    watch = new ConnectionWatch([client]);
  });
  afterEach(() => watch.dispose());

  it('keeps the rejection the connection is stuck on, and forgets it at the next ready', () => {
    expect(watch.lastRejection).toBeUndefined();
    const error = wrongPass();
    client.emit('error', error);
    expect(watch.lastRejection).toEqual({
      failure: expect.objectContaining({ kind: 'rejected', reason: 'WRONGPASS' }),
      error,
    });
    // An outage after it does not hide why the connection cannot be made.
    client.emit('error', refused());
    expect(watch.lastRejection?.error).toBe(error);
    client.emit('ready');
    expect(watch.lastRejection).toBeUndefined();
  });

  it('rejects `rejected` with the first refusal, and never for an outage', async () => {
    let settled = false;
    watch.rejected.catch(() => (settled = true));
    client.emit('error', refused());
    await delivered(); // a rejection would have been handled by now
    expect(settled).toBe(false);
    const error = wrongPass();
    client.emit('error', error);
    await expect(watch.rejected).rejects.toBe(error);
  });

  it('keeps the last connection error until the next ready', () => {
    const first = refused();
    const second = new Error('connect ETIMEDOUT');
    client.emit('error', first);
    expect(watch.lastError).toBe(first);
    client.emit('error', second);
    expect(watch.lastError).toBe(second);
    client.emit('ready');
    expect(watch.lastError).toBeUndefined();
  });

  describe('bootRejection()', () => {
    it('is the rejection seen, while it lasts', () => {
      client.emit('error', wrongPass());
      expect(watch.bootRejection()).toEqual(expect.objectContaining({ reason: 'WRONGPASS' }));
      client.emit('ready');
      expect(watch.bootRejection()).toBeUndefined();
    });

    it.each(closedByPeer)(
      'blames a server that closed every connection right after it opened (%s)',
      (_, closed) => {
        expect(watch.bootRejection()).toBeUndefined();
        client.emit('connect');
        client.emit('error', closed());
        expect(watch.bootRejection()).toBe(CLOSED_AFTER_CONNECT);
        client.emit('connect');
        client.emit('error', closed());
        expect(watch.bootRejection()).toBe(CLOSED_AFTER_CONNECT);
      },
    );

    it('does not blame the server for a close before any connect', () => {
      client.emit('error', closedByPeer[0][1]());
      expect(watch.bootRejection()).toBeUndefined();
    });

    it('takes an error event without an error as another failure', () => {
      client.emit('connect');
      expect(() => client.emit('error', undefined)).not.toThrow();
      client.emit('connect');
      client.emit('error', closedByPeer[0][1]());
      expect(watch.bootRejection()).toBeUndefined();
    });

    it('does not blame the server for a close that did not follow a connect', () => {
      client.emit('connect');
      client.emit('error', closedByPeer[0][1]());
      // A second close with no connect between: not "closed right after it was opened".
      client.emit('error', closedByPeer[0][1]());
      expect(watch.bootRejection()).toBeUndefined();
    });

    it('does not blame the server when another failure was seen too (an outage, not TLS)', () => {
      client.emit('connect');
      client.emit('error', closedByPeer[0][1]());
      client.emit('error', refused());
      client.emit('connect');
      client.emit('error', closedByPeer[0][1]());
      expect(watch.bootRejection()).toBeUndefined();
    });

    it('does not count an error after a connect that is not a close by the peer', () => {
      client.emit('connect');
      client.emit('error', new Error('connect ETIMEDOUT'));
      expect(watch.bootRejection()).toBeUndefined();
    });

    it('is undefined once a connection was ready, even if later ones are closed at once', () => {
      client.emit('ready');
      client.emit('connect');
      client.emit('error', closedByPeer[0][1]());
      expect(watch.bootRejection()).toBeUndefined();
    });
  });

  it('watches every source it is given', () => {
    const other = new EventEmitter();
    const both = new ConnectionWatch([client, other]);
    const error = wrongPass();
    other.emit('error', error);
    expect(both.lastRejection?.error).toBe(error);
    client.emit('ready');
    expect(both.lastRejection).toBeUndefined();
    both.dispose();
  });

  it('dispose() removes every listener it added, and only those', () => {
    const mine = () => undefined;
    client.on('error', mine);
    const other = new EventEmitter();
    const both = new ConnectionWatch([client, other]);
    for (const event of ['connect', 'ready', 'error']) expect(other.listenerCount(event)).toBe(1);
    both.dispose();
    watch.dispose();
    for (const event of ['connect', 'ready', 'error']) expect(other.listenerCount(event)).toBe(0);
    expect(client.listeners('error')).toEqual([mine]);
    expect(client.listenerCount('connect') + client.listenerCount('ready')).toBe(0);
    // Disposed: what the client emits later changes nothing.
    other.on('error', () => undefined);
    other.emit('error', wrongPass());
    expect(both.lastRejection).toBeUndefined();
  });
});
