import { InvalidError, isPlainObject } from '@cordum/core';
import { Ajv, type ErrorObject, type Options } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';

// Checks that a value is a JSON Schema before it is registered: against the meta-schema of its draft, then
// by compiling it (which catches $refs that resolve nowhere and patterns that are not regular expressions).
// Draft-07 unless `$schema` names 2020-12; other drafts are refused rather than checked by the wrong rules.
//
// The meta-schema check runs on one Ajv per draft (it adds nothing to the instance). The compile runs on a
// fresh Ajv each time: a compiled schema's $ids stay in its instance, so a shared one would refuse the next
// schema with the same $id and let one tenant's $ids resolve in another's schema.

export type SchemaDraft = 'draft-07' | '2020-12';

const DRAFTS: Readonly<Record<string, SchemaDraft>> = {
  'http://json-schema.org/draft-07/schema': 'draft-07',
  'https://json-schema.org/draft-07/schema': 'draft-07',
  'https://json-schema.org/draft/2020-12/schema': '2020-12',
};

const AJV_OPTIONS: Options = {
  // Only the schema is checked here, never data: unknown keywords (annotations, x-*) and formats are
  // allowed, and nothing is written to the console.
  strict: false,
  allErrors: true,
  validateFormats: false,
  logger: false,
};

const metaCheckers: Partial<Record<SchemaDraft, Ajv | Ajv2020>> = {};

function metaChecker(draft: SchemaDraft): Ajv | Ajv2020 {
  metaCheckers[draft] ??= draft === '2020-12' ? new Ajv2020(AJV_OPTIONS) : new Ajv(AJV_OPTIONS);
  return metaCheckers[draft];
}

function compiler(draft: SchemaDraft): Ajv | Ajv2020 {
  const options = { ...AJV_OPTIONS, validateSchema: false };
  return draft === '2020-12' ? new Ajv2020(options) : new Ajv(options);
}

/** Deeper schemas are refused before Ajv sees them: checking and compiling recurse, and cost grows with depth. */
export const MAX_SCHEMA_DEPTH = 128;

/** Nesting depth of a JSON value (objects and arrays), counted without recursion; stops past `limit`. */
export function depthExceeds(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/** The draft a schema declares (draft-07 when it declares none). InvalidError for any other $schema. */
export function schemaDraft(schema: unknown): SchemaDraft {
  if (!isPlainObject(schema) || schema['$schema'] === undefined) return 'draft-07';
  const declared = schema['$schema'];
  const draft = typeof declared === 'string' ? DRAFTS[declared.replace(/#$/, '')] : undefined;
  if (draft === undefined) {
    throw new InvalidError(
      `schema.$schema ${JSON.stringify(declared)} is not supported: use http://json-schema.org/draft-07/schema# or https://json-schema.org/draft/2020-12/schema (or none, for draft-07)`,
      { details: { path: 'schema/$schema' } },
    );
  }
  return draft;
}

function describeIssue(e: ErrorObject): { path: string; message: string } {
  const extra = e.keyword === 'enum' && Array.isArray(e.params['allowedValues']) ? `: ${(e.params['allowedValues'] as unknown[]).join(', ')}` : '';
  return { path: `schema${e.instancePath}`, message: `${e.message ?? 'is invalid'}${extra}` };
}

/** Returns the schema's draft, or throws InvalidError naming the first problem and listing them in details. */
export function checkJsonSchema(schema: unknown): SchemaDraft {
  if (typeof schema !== 'boolean' && !isPlainObject(schema)) {
    throw new InvalidError('schema must be a JSON Schema: an object (or true/false)', { details: { path: 'schema' } });
  }
  if (depthExceeds(schema, MAX_SCHEMA_DEPTH)) {
    throw new InvalidError(`schema nests deeper than ${MAX_SCHEMA_DEPTH} levels`, { details: { path: 'schema', max_depth: MAX_SCHEMA_DEPTH } });
  }
  const draft = schemaDraft(schema);
  const meta = metaChecker(draft);
  let valid: boolean;
  try {
    valid = meta.validateSchema(schema) as boolean;
  } catch (err) {
    // Not expected after the depth check; start the next check on a fresh instance all the same.
    delete metaCheckers[draft];
    throw new InvalidError(`schema cannot be checked: ${err instanceof Error ? err.message : String(err)}`, { details: { path: 'schema', draft } });
  }
  if (!valid) {
    const issues = (meta.errors ?? []).slice(0, 20).map(describeIssue);
    const first = issues[0] ?? { path: 'schema', message: 'is invalid' };
    throw new InvalidError(`not a valid ${draft} JSON Schema: ${first.path}: ${first.message}`, {
      details: { path: first.path, draft, errors: issues },
    });
  }
  try {
    compiler(draft).compile(schema);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new InvalidError(`not a usable ${draft} JSON Schema: ${message}`, { details: { path: 'schema', draft } });
  }
  return draft;
}
