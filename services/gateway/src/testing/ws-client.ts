import { WebSocket } from 'ws';

// Test scaffolding: a real WebSocket client (the `ws` package) for GET /api/v1/stream on a listening gateway.

export type Frame = { type: string; [key: string]: unknown };
export type EventFrameView = Frame & {
  kind: string;
  event: string;
  tenant_id: string;
  job_id: string | null;
  run_id: string | null;
  topic: string | null;
  state: string | null;
  data: Record<string, unknown>;
};

export type StreamClient = {
  readonly socket: WebSocket;
  /** Every frame received so far, in order. */
  readonly frames: Frame[];
  /** Event frames received so far. */
  events(): EventFrameView[];
  /** Waits for the first frame (from index `from`) that passes `test`. */
  next(test: (f: Frame) => boolean, options?: { from?: number; timeoutMs?: number }): Promise<Frame>;
  send(message: unknown): void;
  /** Resolves with the close code. */
  closed(): Promise<number>;
  close(): Promise<void>;
};

export type Refused = { status: number; body: { error: { code: string; message: string; details: Record<string, unknown> } } };

export type OpenOptions = {
  key?: string;
  query?: Record<string, string>;
  protocols?: string[];
  headers?: Record<string, string>;
  /** Answer pings (default true). */
  autoPong?: boolean;
};

/** The last frames, each cut short, for failure messages. */
function describe(frames: Frame[]): string {
  const shown = frames.slice(-8).map((f) => {
    const text = JSON.stringify(f);
    return text.length > 300 ? `${text.slice(0, 300)}…` : text;
  });
  return `${frames.length} frame(s), the last: ${shown.join('\n')}`;
}

function urlOf(base: string, query: Record<string, string> | undefined): string {
  const url = new URL('/api/v1/stream', base.replace(/^http/, 'ws'));
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
  return url.toString();
}

/** Connects; resolves once the `subscribed` frame arrived (the socket is then registered for events). */
export function openStream(baseUrl: string, options: OpenOptions = {}): Promise<StreamClient> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.key !== undefined) headers['x-api-key'] = options.key;
    const socket = new WebSocket(urlOf(baseUrl, options.query), options.protocols ?? [], { headers, autoPong: options.autoPong ?? true });
    const frames: Frame[] = [];
    const waiters = new Set<() => void>();
    let closeCode: number | undefined;
    const closeWaiters: ((code: number) => void)[] = [];
    socket.on('message', (data: Buffer) => {
      frames.push(JSON.parse(data.toString('utf8')) as Frame);
      for (const w of [...waiters]) w();
    });
    socket.on('close', (code) => {
      closeCode = code;
      for (const w of closeWaiters.splice(0)) w(code);
      for (const w of [...waiters]) w();
    });
    socket.on('error', (err) => reject(err));
    socket.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        reject(Object.assign(new Error(`refused: ${res.statusCode ?? 0} ${text}`), { refused: { status: res.statusCode ?? 0, body: JSON.parse(text) as Refused['body'] } }));
      });
    });
    const client: StreamClient = {
      socket,
      frames,
      events: () => frames.filter((f): f is EventFrameView => f.type === 'event'),
      next(test, o = {}) {
        return new Promise((res, rej) => {
          const check = (): boolean => {
            const found = frames.slice(o.from ?? 0).find(test);
            if (found !== undefined) {
              waiters.delete(check);
              clearTimeout(timer);
              res(found);
              return true;
            }
            if (closeCode !== undefined) {
              waiters.delete(check);
              clearTimeout(timer);
              rej(new Error(`socket closed (${closeCode}) before the frame arrived; got ${describe(frames)}`));
              return true;
            }
            return false;
          };
          const timer = setTimeout(() => {
            waiters.delete(check);
            rej(new Error(`no such frame within ${o.timeoutMs ?? 5000} ms; got ${describe(frames)}`));
          }, o.timeoutMs ?? 5000);
          if (!check()) waiters.add(check);
        });
      },
      send(message) {
        socket.send(typeof message === 'string' ? message : JSON.stringify(message));
      },
      closed() {
        return closeCode !== undefined ? Promise.resolve(closeCode) : new Promise((res) => closeWaiters.push(res));
      },
      async close() {
        if (closeCode !== undefined) return;
        const done = client.closed();
        socket.close();
        await done;
      },
    };
    client.next((f) => f.type === 'subscribed').then(() => resolve(client), reject);
  });
}

/** Opens a stream that must be refused before the upgrade; resolves with the HTTP status and error body. */
export async function refusedStream(baseUrl: string, options: OpenOptions = {}): Promise<Refused> {
  try {
    const c = await openStream(baseUrl, options);
    await c.close();
  } catch (err) {
    const refused = (err as { refused?: Refused }).refused;
    if (refused !== undefined) return refused;
    throw err;
  }
  throw new Error('the upgrade was accepted');
}

/** The key as browsers send it: subprotocols `cordum-api-key, <base64url key>`. */
export function keyProtocols(key: string): string[] {
  return ['cordum-api-key', Buffer.from(key, 'utf8').toString('base64url')];
}
