import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy in front of one Redis server, for a network partition of the clients behind it
 * alone: `cut()` drops their connections and refuses new ones until `mend()`, while clients that
 * connect to the server directly go on as before. It also counts the commands sent through it.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  /** Both sockets of each connection whose client sent a (S)SUBSCRIBE: the subscribers. */
  private readonly subscribers = new WeakSet<Socket>();
  private open = true;
  /** What happens to a connection that subscribes: 'drop' it, or 'stall' it (nothing it sends after reaches the server). */
  private subscribersAre: 'let through' | 'drop' | 'stall' = 'let through';
  private readonly stalled = new WeakSet<Socket>();
  /** Connections stalled at their (S)SUBSCRIBE so far. */
  stalledSubscribers = 0;
  /** What the clients sent, lower-cased (the tests send little). */
  private sent = '';
  private readonly server = createServer((client) => {
    if (!this.open) return void client.destroy();
    const upstream = createConnection({ port: this.targetPort, host: '127.0.0.1' });
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1').toLowerCase();
      this.sent += text;
      if (text.includes('subscribe\r\n')) {
        if (this.subscribersAre === 'drop') return void client.destroy();
        if (this.subscribersAre === 'stall' && !this.stalled.has(client)) {
          this.stalled.add(client);
          this.stalledSubscribers++;
        }
        this.subscribers.add(client);
        this.subscribers.add(upstream);
      }
      if (!this.stalled.has(client)) upstream.write(chunk);
    });
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ]) {
      this.sockets.add(socket);
      socket.on('error', () => other.destroy());
      socket.on('close', () => {
        this.sockets.delete(socket);
        other.destroy();
      });
    }
    upstream.pipe(client);
  });

  private constructor(private readonly targetPort: number) {}

  /** A proxy on a free port of 127.0.0.1 to `targetPort` there. */
  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    proxy.server.listen(0, '127.0.0.1');
    await once(proxy.server, 'listening');
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  /**
   * Drops the connections through the proxy and refuses new ones. `keepSubscribers`: the
   * subscriber connections stay up (notices still arrive; commands cannot be sent).
   */
  cut({ keepSubscribers = false } = {}): void {
    this.open = false;
    for (const socket of this.sockets)
      if (!(keepSubscribers && this.subscribers.has(socket))) socket.destroy();
  }

  /** How many `command`s the clients have sent through the proxy so far. */
  count(command: string): number {
    const name = command.toLowerCase();
    return this.sent.split(`$${name.length}\r\n${name}\r\n`).length - 1;
  }

  /**
   * Lets connections through again (clients reconnect on their own). `subscribers: false`: all
   * but the subscriber connections, which are dropped when they subscribe; `'stall'`: those are
   * kept open but their (S)SUBSCRIBE, and all they send after it, never reaches the server.
   */
  mend({ subscribers = true }: { subscribers?: boolean | 'stall' } = {}): void {
    this.open = true;
    this.subscribersAre = subscribers === 'stall' ? 'stall' : subscribers ? 'let through' : 'drop';
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
