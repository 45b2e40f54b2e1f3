import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy in front of one server, for a network partition of the clients behind it alone:
 * `cut()` drops their connections and refuses new ones until `mend()`, while clients that connect
 * to the server directly go on as before.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private open = true;
  private readonly server = createServer((client) => {
    if (!this.open) return void client.destroy();
    const upstream = createConnection({ port: this.targetPort, host: '127.0.0.1' });
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
    client.pipe(upstream).pipe(client);
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

  /** Drops every connection through the proxy and refuses new ones. */
  cut(): void {
    this.open = false;
    for (const socket of this.sockets) socket.destroy();
  }

  /** Lets connections through again (clients reconnect on their own). */
  mend(): void {
    this.open = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
