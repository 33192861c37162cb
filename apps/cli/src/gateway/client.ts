import { CliError, gatewayError } from '../errors.js';
import { EXIT } from '../exit-codes.js';

// The gateway over HTTP, nothing else: cordumctl never talks to the bus or the stores. Every non-2xx answer
// becomes a CliError carrying the gateway's stable code and the matching exit code.

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export type RequestOptions = {
  readonly query?: Query;
  /** Sent as JSON. */
  readonly body?: unknown;
  /** Sent as it is with its own content type, instead of `body` (a workflow definition in YAML). */
  readonly raw?: { readonly contentType: string; readonly text: string };
  readonly headers?: Readonly<Record<string, string>>;
};

export type GatewayResponse<T> = { readonly status: number; readonly body: T };

export type GatewayClient = {
  /** e.g. http://localhost:8081 (no trailing slash). */
  readonly baseUrl: string;
  request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, options?: RequestOptions): Promise<GatewayResponse<T>>;
  get<T>(path: string, query?: Query): Promise<T>;
  post<T>(path: string, body?: unknown, options?: Omit<RequestOptions, 'body'>): Promise<T>;
  put<T>(path: string, body?: unknown): Promise<T>;
  delete(path: string, query?: Query): Promise<void>;
};

export type GatewayClientOptions = {
  readonly baseUrl: string;
  readonly apiKey?: string | undefined;
  /** Per request (default 30 s). */
  readonly timeoutMs?: number;
  readonly userAgent?: string;
};

/** `/api/v1/jobs/` + an id, escaped. */
export function apiPath(...parts: readonly string[]): string {
  return parts.map((p, i) => (i === 0 ? p : encodeURIComponent(p))).join('/');
}

const NETWORK_CODES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed TLS certificate',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate does not match the host',
};

function networkReason(err: unknown): string {
  let e: unknown = err;
  for (let i = 0; i < 4 && e instanceof Error; i++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && NETWORK_CODES[code] !== undefined) return NETWORK_CODES[code];
    if (e instanceof AggregateError && e.errors[0] !== undefined) {
      e = e.errors[0];
      continue;
    }
    if (e.cause === undefined) return code ?? e.message;
    e = e.cause;
  }
  return e instanceof Error ? e.message : String(e);
}

export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 30_000;

  async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<GatewayResponse<T>> {
    const url = new URL(`${baseUrl}${path}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (options.userAgent !== undefined) headers['user-agent'] = options.userAgent;
    if (options.apiKey !== undefined) headers['x-api-key'] = options.apiKey;
    let payload: string | undefined;
    if (opts.raw !== undefined) {
      headers['content-type'] = opts.raw.contentType;
      payload = opts.raw.text;
    } else if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(opts.body);
    }
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw new CliError(
        timedOut
          ? `the gateway at ${baseUrl} did not answer within ${Math.round(timeoutMs / 1000)} s`
          : `cannot reach the gateway at ${baseUrl}: ${networkReason(err)}`,
        {
          exitCode: EXIT.unavailable,
          code: timedOut ? 'timeout' : 'unreachable',
          hint: timedOut ? undefined : 'check --gateway, CORDUM_GATEWAY or the current context (`cordum dev` serves one on http://localhost:8081)',
          cause: err,
        },
      );
    }
    const text = await res.text();
    let body: unknown;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        if (res.ok || !/json/i.test(res.headers.get('content-type') ?? '')) {
          throw new CliError(
            `the server at ${baseUrl} did not answer like a Cordum gateway (HTTP ${res.status}, ${res.headers.get('content-type') ?? 'no content type'})`,
            { exitCode: EXIT.error, code: 'bad_response', status: res.status, hint: 'check --gateway, CORDUM_GATEWAY or the current context' },
          );
        }
      }
    }
    if (!res.ok) throw gatewayError(res.status, body);
    return { status: res.status, body: body as T };
  }

  return {
    baseUrl,
    request: (method, path, opts) => request(method, path, opts),
    get: async (path, query) => (await request<never>('GET', path, query === undefined ? {} : { query })).body,
    post: async (path, body, opts) => (await request<never>('POST', path, { ...opts, ...(body === undefined ? {} : { body }) })).body,
    put: async (path, body) => (await request<never>('PUT', path, body === undefined ? {} : { body })).body,
    delete: async (path, query) => {
      await request('DELETE', path, query === undefined ? {} : { query });
    },
  };
}
