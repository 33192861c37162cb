import { type Socket, createConnection, createServer } from 'node:net';

// A TCP proxy for fault-injection tests: it forwards bytes both ways between a client and a real server,
// and on request loses the server's next answer the way a network blip does — the server has already acted
// on the request, the client never hears back. Reusable for any request/reply protocol (Redis, NATS).

export type TcpProxy = {
  readonly host: string;
  /** Where clients connect instead of the target. */
  readonly port: number;
  /**
   * Arms the proxy: the next data the target sends, on any connection, is not forwarded; that client
   * connection and its upstream are destroyed instead. Later connections are proxied normally again.
   * Send exactly one request after arming, so that "the next data" is its reply.
   */
  dropNextReply(): void;
  /** Replies dropped so far (a test can check the fault was really injected). */
  readonly dropped: number;
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
};

/** Starts a proxy on a free 127.0.0.1 port in front of `target`. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let armed = false;
  let dropped = 0;
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    // Errors (ECONNRESET after a drop) end the pair through 'close'; there is nothing else to do with them.
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  };

  const server = createServer((client) => {
    const upstream = createConnection({ host: target.host, port: target.port });
    track(client);
    track(upstream);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (armed) {
        armed = false;
        dropped += 1;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('the proxy did not get a port');

  const close = (): Promise<void> =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return {
    host: '127.0.0.1',
    port: address.port,
    dropNextReply: () => {
      armed = true;
    },
    get dropped() {
      return dropped;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
