import { hashJson } from '@cordum/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEYS, type TestGateway, startTestGateway } from '../testing/fixture.js';
import { MAX_SCHEMA_DEPTH, checkJsonSchema } from './json-schema.js';

type Summary = { id: string; version: number; sha256: string; draft: string; created_at: number; updated_at: number };
type ErrorBody = { error: { code: string; message: string; details: Record<string, unknown> } };

let t: TestGateway;
beforeEach(async () => {
  t = await startTestGateway();
});
afterEach(async () => {
  await t.close();
});

const INCIDENT = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  required: ['service'],
  properties: { service: { type: 'string', minLength: 1 }, severity: { enum: ['low', 'high'] }, tags: { type: 'array', items: [{ type: 'string' }] } },
  definitions: { id: { type: 'string' } },
  'x-owner': 'sre',
};
const MODERN = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'array',
  prefixItems: [{ type: 'string' }, { $ref: '#/$defs/n' }],
  $defs: { n: { type: 'number' } },
};

describe('schema registry', () => {
  it('registers, replaces, reads, lists and deletes schemas of the tenant', async () => {
    const created = await t.call('POST', '/api/v1/schemas', { key: KEYS.adminA, body: { id: 'sre-pack/IncidentContext', schema: INCIDENT } });
    expect(created.statusCode).toBe(201);
    expect(created.json<Summary>()).toMatchObject({ id: 'sre-pack/IncidentContext', version: 1, draft: 'draft-07', sha256: hashJson(INCIDENT) });

    const replaced = await t.call('POST', '/api/v1/schemas', { key: KEYS.adminA, body: { id: 'sre-pack/IncidentContext', schema: { ...INCIDENT, title: 'v2' } } });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json<Summary>().version).toBe(2);

    const modern = await t.call('POST', '/api/v1/schemas', { key: KEYS.adminA, body: { id: 'a-first', schema: MODERN } });
    expect(modern.statusCode).toBe(201);
    expect(modern.json<Summary>().draft).toBe('2020-12');
    expect((await t.call('POST', '/api/v1/schemas', { key: KEYS.adminA, body: { id: 'anything', schema: true } })).statusCode).toBe(201);

    const got = await t.call('GET', `/api/v1/schemas/${encodeURIComponent('sre-pack/IncidentContext')}`, { key: KEYS.viewerA });
    expect(got.statusCode).toBe(200);
    expect(got.json<{ schema: unknown; version: number }>()).toMatchObject({ schema: { ...INCIDENT, title: 'v2' }, version: 2 });

    const page1 = (await t.call('GET', '/api/v1/schemas?limit=2', { key: KEYS.viewerA })).json<{ schemas: string[]; items: Summary[]; next_cursor: string | null }>();
    expect(page1.schemas).toEqual(['a-first', 'anything']);
    expect(page1.items.map((s) => s.id)).toEqual(page1.schemas);
    const page2 = (await t.call('GET', `/api/v1/schemas?limit=2&cursor=${page1.next_cursor ?? ''}`, { key: KEYS.viewerA })).json<{ schemas: string[]; next_cursor: string | null }>();
    expect(page2).toEqual({ schemas: ['sre-pack/IncidentContext'], items: expect.any(Array) as unknown, next_cursor: null });

    expect((await t.call('DELETE', `/api/v1/schemas/${encodeURIComponent('sre-pack/IncidentContext')}`, { key: KEYS.adminA })).statusCode).toBe(204);
    expect((await t.call('GET', `/api/v1/schemas/${encodeURIComponent('sre-pack/IncidentContext')}`, { key: KEYS.viewerA })).statusCode).toBe(404);
    expect((await t.call('DELETE', `/api/v1/schemas/${encodeURIComponent('sre-pack/IncidentContext')}`, { key: KEYS.adminA })).statusCode).toBe(404);
    expect((await t.stores.audit.list('tenant-a', { kind: 'schema.' })).items.map((e) => e.kind)).toEqual([
      'schema.delete',
      'schema.register',
      'schema.register',
      'schema.register',
      'schema.register',
    ]);
  });

  it('refuses what is not a JSON Schema of its draft with 400 naming the path, and stores nothing', async () => {
    const cases: [unknown, string, string][] = [
      [{ type: 'objectx' }, 'schema/type', 'must be equal to one of the allowed values'],
      [{ properties: { a: 5 } }, 'schema/properties/a', ''],
      [{ type: 'string', minLength: -1 }, 'schema/minLength', ''],
      [{ required: 'name' }, 'schema/required', ''],
      [{ $ref: '#/definitions/missing' }, 'schema', 'missing'],
      [{ type: 'string', pattern: '(' }, 'schema', 'regular expression'],
      [5, 'schema', 'an object (or true/false)'],
      [[{ type: 'string' }], 'schema', 'an object (or true/false)'],
      [{ $schema: 'http://json-schema.org/draft-04/schema#', type: 'string' }, 'schema/$schema', 'not supported'],
      // Draft-07's tuple form of items is not 2020-12.
      [{ $schema: 'https://json-schema.org/draft/2020-12/schema', items: [{ type: 'string' }] }, 'schema/items', ''],
      [{ $schema: 'https://json-schema.org/draft/2020-12/schema', prefixItems: 5 }, 'schema/prefixItems', ''],
    ];
    for (const [schema, path, text] of cases) {
      const res = await t.call('POST', '/api/v1/schemas', { key: KEYS.adminA, body: { id: 'bad', schema } });
      expect(res.statusCode, JSON.stringify(schema)).toBe(400);
      const error = res.json<ErrorBody>().error;
      expect(error.code).toBe('invalid_argument');
      expect(error.details['path'], JSON.stringify(schema)).toBe(path);
      expect(error.message).toContain(text);
    }
    expect((await t.call('GET', '/api/v1/schemas/bad', { key: KEYS.viewerA })).statusCode).toBe(404);
    // A schema that is not an object at all, or absent, is refused by the route schema too.
    expect((await t.call('POST', '/api/v1/schemas', { key: KEYS.adminA, body: { id: 'x' } })).statusCode).toBe(400);
    expect((await t.call('POST', '/api/v1/schemas', { key: KEYS.adminA, body: { id: '../etc', schema: {} } })).statusCode).toBe(400);
  });

  it('compare-and-set on expected_version; writes need admin, reads viewer', async () => {
    expect((await t.call('POST', '/api/v1/schemas', { key: KEYS.adminA, body: { id: 's', schema: {}, expected_version: 0 } })).statusCode).toBe(201);
    const again = await t.call('POST', '/api/v1/schemas', { key: KEYS.adminA, body: { id: 's', schema: { type: 'object' }, expected_version: 0 } });
    expect(again.statusCode).toBe(409);
    expect(again.json<ErrorBody>().error.code).toBe('revision_conflict');
    expect((await t.call('POST', '/api/v1/schemas', { key: KEYS.adminA, body: { id: 's', schema: { type: 'object' }, expected_version: 1 } })).statusCode).toBe(200);

    expect((await t.call('POST', '/api/v1/schemas', { key: KEYS.operatorA, body: { id: 's2', schema: {} } })).statusCode).toBe(403);
    expect((await t.call('DELETE', '/api/v1/schemas/s', { key: KEYS.operatorA })).statusCode).toBe(403);
    expect((await t.call('GET', '/api/v1/schemas/s', { key: KEYS.viewerA })).statusCode).toBe(200);
  });

  it('checkJsonSchema accepts both drafts and the draft-07 default', () => {
    expect(checkJsonSchema(INCIDENT)).toBe('draft-07');
    expect(checkJsonSchema({ type: 'object' })).toBe('draft-07');
    expect(checkJsonSchema({ $schema: 'https://json-schema.org/draft/2020-12/schema#', $defs: {} })).toBe('2020-12');
    expect(checkJsonSchema(false)).toBe('draft-07');
    // Nesting: fine within the limit, refused past it (before Ajv recurses through it).
    const nest = (levels: number): unknown => {
      let schema: unknown = { type: 'string' };
      for (let i = 1; i < levels; i++) schema = { not: schema };
      return schema;
    };
    expect(checkJsonSchema(nest(MAX_SCHEMA_DEPTH))).toBe('draft-07');
    expect(() => checkJsonSchema(nest(MAX_SCHEMA_DEPTH + 1))).toThrow(/nests deeper than 128 levels/);
    expect(() => checkJsonSchema(nest(5000))).toThrow(/nests deeper/);
    // Two schemas with the same $id are checked independently (no shared registry between checks).
    expect(checkJsonSchema({ $id: 'https://example.com/x', type: 'string' })).toBe('draft-07');
    expect(checkJsonSchema({ $id: 'https://example.com/x', type: 'number' })).toBe('draft-07');
  });
});
