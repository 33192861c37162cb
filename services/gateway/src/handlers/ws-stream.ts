import type { IncomingMessage } from 'node:http';
import { DeniedError, InvalidError, RetryableError } from '@cordum/core';
import type { WebsocketPluginOptions } from '@fastify/websocket';
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { type Credentials, credentialsOf } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import { isAllowedOrigin } from '../http/origin.js';
import { ERROR_RESPONSES } from '../http/schemas.js';
import { type GatewayApp, principalOf } from '../http/types.js';
import { STREAM_KINDS } from '../stream/events.js';
import { parseFilter } from '../stream/filter.js';
import type { StreamHub } from '../stream/hub.js';

// GET /api/v1/stream: the WebSocket upgrade goes through the normal request pipeline first (auth hook, role,
// query validation, origin and capacity checks), so a refused upgrade is an ordinary HTTP error response.
//
// Credentials, in this order: X-API-Key / Authorization: Bearer (any non-browser client), then the
// subprotocol form browsers can send, `Sec-WebSocket-Protocol: cordum-api-key, <base64url(key)>` (upstream
// Cordum's form; the server answers with `cordum-api-key`, never echoing the key). A key in the URL
// (`?api_key=`) is refused: URLs end up in proxy and access logs.

export const STREAM_PATH = '/api/v1/stream';
/** The subprotocol that marks the next offered protocol as the API key. */
export const API_KEY_PROTOCOL = 'cordum-api-key';
/** Largest client message (subscribe filters are small). */
const MAX_CLIENT_MESSAGE_BYTES = 16 * 1024;

const FilterValue = (description: string) => Type.Optional(Type.String({ minLength: 1, maxLength: 8192, description }));

export const StreamQuery = Type.Object(
  {
    job_id: FilterValue('Only events of these jobs (comma-separated ids)'),
    run_id: FilterValue('Only events of these workflow runs, and of the jobs they start (comma-separated)'),
    topic: FilterValue('Only events of jobs on these topics; NATS-style patterns allowed (job.demo.*, job.>)'),
    kind: FilterValue(`Only these kinds (comma-separated): ${STREAM_KINDS.join(', ')}`),
  },
  { additionalProperties: false },
);
export type StreamQuery = Static<typeof StreamQuery>;

function protocolsOf(request: { headers: IncomingMessage['headers'] }): string[] {
  const raw = request.headers['sec-websocket-protocol'];
  const text = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  return text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

/** The API key carried as the protocol after `cordum-api-key` (base64url), or undefined. */
export function keyFromProtocols(protocols: readonly string[]): string | undefined {
  const at = protocols.indexOf(API_KEY_PROTOCOL);
  const token = at < 0 ? undefined : protocols[at + 1];
  if (token === undefined || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  const key = Buffer.from(token, 'base64url').toString('utf8');
  // Keys never contain whitespace or control characters (parseApiKeys refuses them).
  return key === '' || [...key].some((ch) => ch.charCodeAt(0) < 0x21 || ch === '\u007f') ? undefined : key;
}

/** Credentials of an upgrade request: headers first, then the subprotocol. */
export function streamCredentials(request: FastifyRequest): Credentials {
  const query = request.query as Record<string, unknown> | undefined;
  const url = request.raw.url ?? '';
  if ((query !== undefined && query['api_key'] !== undefined) || /[?&]api_key=/.test(url)) {
    throw new InvalidError(
      `do not put API keys in URLs (they end up in logs): send X-API-Key, or from a browser the subprotocols "${API_KEY_PROTOCOL}, <base64url key>"`,
      { details: { field: 'api_key' } },
    );
  }
  const fromHeaders = credentialsOf(request.headers);
  if (fromHeaders.apiKey !== undefined || fromHeaders.bearer !== undefined) return fromHeaders;
  return { apiKey: keyFromProtocols(protocolsOf(request)), bearer: undefined };
}

/** Options of @fastify/websocket: small client messages, and the key protocol answered without the key. */
export const WEBSOCKET_PLUGIN_OPTIONS: WebsocketPluginOptions = {
  options: {
    maxPayload: MAX_CLIENT_MESSAGE_BYTES,
    handleProtocols: (protocols: Set<string>) => (protocols.has(API_KEY_PROTOCOL) ? API_KEY_PROTOCOL : false),
  },
};

function checkOrigin(ctx: GatewayContext, origin: string | undefined): void {
  // Browsers always send Origin on a WebSocket upgrade and CORS does not apply to it: without this check any
  // web page could read the stream of a gateway in open mode on localhost.
  if (origin === undefined || isAllowedOrigin(origin, ctx.options.allowedOrigins)) return;
  throw new DeniedError(`origin ${origin} may not open the stream; add it to CORDUM_ALLOWED_ORIGINS`, {
    code: 'permission_denied',
    details: { origin },
  });
}

export function registerStreamRoutes(app: GatewayApp, ctx: GatewayContext, hub: StreamHub): void {
  app.route({
    method: 'GET',
    url: STREAM_PATH,
    config: { role: 'viewer', credentials: streamCredentials },
    schema: {
      tags: ['system'],
      summary: 'Live events of your tenant over a WebSocket',
      description:
        'Upgrade to a WebSocket. Frames are JSON: `subscribed`, `event` (kinds ' +
        STREAM_KINDS.join(', ') +
        '), `lagged`, `pong`, `error`. Filter with the query or a `{"type":"subscribe","filter":{…}}` message. ' +
        `Browsers authenticate with the subprotocols \`${API_KEY_PROTOCOL}, <base64url key>\`. See docs/api.md "Stream".`,
      querystring: StreamQuery,
      response: { ...ERROR_RESPONSES },
    },
    preHandler: (request, _reply, done) => {
      try {
        checkOrigin(ctx, typeof request.headers.origin === 'string' ? request.headers.origin : undefined);
        if (request.ws && !hub.hasRoom()) {
          throw new RetryableError('the gateway serves its maximum number of stream connections; retry later', {
            code: 'unavailable',
            retryAfterMs: 5000,
          });
        }
        // Validated by the schema; parsed here so a bad pattern or kind is a 400 before the upgrade.
        parseFilter(request.query);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    handler: async (_request, reply) =>
      reply
        .code(426)
        .header('upgrade', 'websocket')
        .type('application/json; charset=utf-8')
        .send({
          error: {
            code: 'invalid_argument',
            message: `${STREAM_PATH} is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket)`,
            details: {},
          },
        }),
    wsHandler: (socket, request) => {
      let connection;
      try {
        connection = hub.accept(socket, principalOf(request), parseFilter(request.query));
      } catch {
        // accept() closed the socket (no room left since the check).
        return;
      }
      const conn = connection;
      socket.on('message', (data, isBinary) => {
        if (isBinary) conn.onBinary();
        else conn.onMessage(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8'));
      });
      socket.on('pong', () => conn.onPong());
      socket.on('close', () => conn.onClose());
    },
  });
}
