import { InvalidError, type JsonValue, NotFoundError } from '@cordum/core';
import { pointerKey, pointerKind } from '@cordum/protocol';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import type { PointerQuery } from '../http/schemas-artifacts.js';

// Reads what a pointer names — a job's input (ctx), output (res) or an artifact (art) — for the tenant that
// wrote it. Pointers are opaque strings anyone can forge, so the payload's own tenant decides: another
// tenant's payload, an expired one and one never written all read as "not found".

export type PointerView = {
  pointer: string;
  key: string;
  kind: 'ctx' | 'res' | 'art';
  size_bytes: number;
  content_type: string;
  created_at: number;
  expires_at: number | null;
  base64: string;
  text?: string;
  json?: JsonValue;
};

function contentOf(bytes: Uint8Array, contentType: string): Pick<PointerView, 'base64' | 'text' | 'json'> {
  const buffer = Buffer.from(bytes);
  const view: Pick<PointerView, 'base64' | 'text' | 'json'> = { base64: buffer.toString('base64') };
  const text = buffer.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(buffer)) return view;
  view.text = text;
  if (contentType.includes('json')) {
    try {
      view.json = JSON.parse(text) as JsonValue;
    } catch {
      // not JSON after all: text only
    }
  }
  return view;
}

export async function readPointer(ctx: GatewayContext, principal: Principal, query: PointerQuery): Promise<PointerView> {
  if ((query.ptr === undefined) === (query.key === undefined)) {
    throw new InvalidError('give exactly one of ptr (a pointer) or key (the key it names)', { details: { field: 'ptr' } });
  }
  const pointer = query.ptr ?? `redis://${query.key ?? ''}`;
  const key = pointerKey(pointer);
  const kind = pointerKind(pointer);
  if (key === undefined || kind === 'other') {
    throw new InvalidError(`${JSON.stringify(pointer)} is not a payload pointer: use redis://ctx:<job>, redis://res:<job> or redis://art:<id>`, {
      details: { field: query.ptr === undefined ? 'key' : 'ptr' },
    });
  }
  const notFound = () => new NotFoundError(`pointer ${pointer} not found`, { details: { pointer } });
  if (kind === 'art') {
    const found = await ctx.stores.artifacts.get(principal.tenant, pointer);
    if (found === undefined) throw notFound();
    const { meta, content } = found;
    return {
      pointer,
      key,
      kind,
      size_bytes: meta.sizeBytes,
      content_type: meta.contentType,
      created_at: meta.createdAt,
      expires_at: meta.expiresAt,
      ...contentOf(content, meta.contentType),
    };
  }
  const payload = await ctx.stores.pointers.get(pointer);
  if (payload === undefined || payload.tenant !== principal.tenant) throw notFound();
  return {
    pointer,
    key,
    kind,
    size_bytes: payload.bytes.byteLength,
    content_type: payload.contentType,
    created_at: payload.createdAt,
    expires_at: payload.expiresAt,
    ...contentOf(payload.bytes, payload.contentType),
  };
}
