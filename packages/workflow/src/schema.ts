import { hashJson, type JsonValue } from '@cordum/core';
import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { JsonObject } from './model.js';

// JSON Schema validation for run input and step input/output. The draft follows `$schema` (2020-12,
// 2019-09, else draft-07; older drafts validate as draft-07, close enough for the keywords they share).
// Unknown keywords and formats are tolerated (registry schemas written for other validators must load).
// Compiled validators are memoised by the schema's canonical hash: compiling is the expensive part and the
// same schemas serve every run. The memo never changes a result, so callers stay pure.

export type SchemaCheck = { ok: true } | { ok: false; error: string };

type AnyAjv = Ajv | Ajv2019 | Ajv2020;

// ajv-formats is CommonJS with `exports.default`; under NodeNext its default import is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: AnyAjv,
) => AnyAjv;

const OPTIONS = { strict: false, allErrors: false, logger: false, validateSchema: true } as const;
let instances: { draft7: Ajv; d2019: Ajv2019; d2020: Ajv2020 } | undefined;

function ajvFor(schema: JsonObject): AnyAjv {
  instances ??= {
    draft7: addFormats(new Ajv(OPTIONS)),
    d2019: addFormats(new Ajv2019(OPTIONS)),
    d2020: addFormats(new Ajv2020(OPTIONS)),
  };
  const declared = typeof schema.$schema === 'string' ? schema.$schema : '';
  if (declared.includes('2020-12')) return instances.d2020;
  if (declared.includes('2019-09')) return instances.d2019;
  return instances.draft7;
}

const MAX_CACHED = 512;
const cache = new Map<string, ValidateFunction | string>();

/** Compiles (memoised); returns the validator or a sentence saying why the schema is unusable. */
export function compileSchema(schema: JsonObject): ValidateFunction | string {
  const key = hashJson(schema);
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  let out: ValidateFunction | string;
  try {
    const declared = typeof schema.$schema === 'string' ? schema.$schema : '';
    const known = declared === '' || /draft-07|2019-09|2020-12/.test(declared);
    // ajv only knows the meta-schemas it was built with; an older `$schema` would fail to resolve.
    const body = known ? schema : Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema'));
    out = ajvFor(schema).compile(body);
  } catch (err) {
    out = `invalid JSON schema: ${(err as Error).message}`;
  }
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
  cache.set(key, out);
  return out;
}

/** A problem with the schema itself, or undefined. */
export function schemaProblem(schema: JsonObject): string | undefined {
  const v = compileSchema(schema);
  return typeof v === 'string' ? v : undefined;
}

export function checkAgainstSchema(schema: JsonObject, value: JsonValue): SchemaCheck {
  const v = compileSchema(schema);
  if (typeof v === 'string') return { ok: false, error: v };
  if (v(value)) return { ok: true };
  const e = v.errors?.[0];
  if (e === undefined) return { ok: false, error: 'does not match the schema' };
  const where = e.instancePath === '' ? '(root)' : e.instancePath;
  return { ok: false, error: `${where} ${e.message ?? 'is invalid'}` };
}
