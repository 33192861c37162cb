import { ConflictError, InvalidError, type JsonValue, hashJson, isPlainObject, isSafeId } from '@cordum/core';
import { encodeCursor, pageLimit } from '../ports/cursor.js';
import type { PageQuery } from '../ports/common.js';
import type { WorkflowRecord } from '../ports/workflow-store.js';
import { checkTenant, decodeQueryCursor, invalidField, show } from './common.js';

// WorkflowStore input checks, record building and cursor format, shared by the memory and Redis adapters.
//
// Version numbers are monotonic per (tenant, id) and survive delete, like schema versions: a run pinned to
// version n always finds the definition it started with, and a writer holding a version read before a
// delete cannot mistake a re-created workflow for the one it read.

/** A checked put: the definition as stored (JSON text) with its canonical hash. */
export type WorkflowWrite = {
  readonly tenant: string;
  readonly id: string;
  readonly docJson: string;
  readonly sha256: string;
  readonly expectedVersion: number | undefined;
};

export function checkWorkflowId(id: unknown): string {
  if (typeof id !== 'string' || !isSafeId(id)) {
    throw invalidField(
      `invalid workflow id ${show(id)}: use 1-200 of A-Z a-z 0-9 . _ : @ # - [ ], starting with a letter or digit`,
      'id',
    );
  }
  return id;
}

/** Ids that can never name a stored workflow: reads answer "not found" for them instead of throwing. */
export function isPossibleWorkflowId(id: unknown): id is string {
  return typeof id === 'string' && isSafeId(id);
}

/** A positive integer version, or undefined for anything that cannot name a stored version. */
export function possibleVersion(version: unknown): number | undefined {
  return typeof version === 'number' && Number.isSafeInteger(version) && version >= 1 ? version : undefined;
}

/** A JSON object as the text every backend stores; InvalidError naming `field` otherwise. */
export function jsonObjectText(value: unknown, field: string): string {
  if (!isPlainObject(value)) throw invalidField(`${field} must be a JSON object`, field);
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw invalidField(`${field} is not representable as JSON: ${(err as Error).message}`, field);
  }
  return text;
}

export function checkWorkflowWrite(
  tenant: string,
  id: string,
  doc: unknown,
  options: { expectedVersion?: number } | undefined,
): WorkflowWrite {
  const checkedTenant = checkTenant(tenant);
  const checkedId = checkWorkflowId(id);
  const docJson = jsonObjectText(doc, 'doc');
  let sha256: string;
  try {
    sha256 = hashJson(doc);
  } catch (err) {
    throw invalidField(`doc is not representable as JSON: ${(err as Error).message}`, 'doc');
  }
  const expected: unknown = options?.expectedVersion;
  if (expected !== undefined && (typeof expected !== 'number' || !Number.isSafeInteger(expected) || expected < 0)) {
    throw new InvalidError(`expectedVersion must be 0 (must not exist) or a version number; got ${show(expected)}`, {
      details: { expected_version: typeof expected === 'number' ? expected : null },
    });
  }
  return { tenant: checkedTenant, id: checkedId, docJson, sha256, expectedVersion: expected };
}

export function workflowVersionConflict(tenant: string, id: string, current: number, expected: number): ConflictError {
  const message = `workflow ${id} of tenant ${tenant} is at version ${current} (0 = absent), expected ${expected}: re-read it and retry`;
  return new ConflictError(message, {
    code: 'revision_conflict',
    details: { current_version: current, expected_version: expected, message },
  });
}

/** Builds a fresh record (parsing the stored text, so callers never share the store's objects). */
export function workflowRecord(
  tenant: string,
  id: string,
  version: number,
  stored: { docJson: string; sha256: string; createdAt: number },
): WorkflowRecord {
  return {
    tenant,
    id,
    version,
    doc: JSON.parse(stored.docJson) as Record<string, JsonValue>,
    sha256: stored.sha256,
    createdAt: stored.createdAt,
  };
}

/** Listing cursor: the id of the last item returned; the next page starts after it (byte order). */
export function encodeWorkflowCursor(id: string): string {
  return encodeCursor({ after: id });
}

const isWorkflowCursor = (v: unknown): v is { after: string } =>
  isPlainObject(v) && typeof v['after'] === 'string' && isSafeId(v['after']);

export function checkWorkflowListQuery(tenant: string, query: PageQuery | undefined): {
  tenant: string;
  limit: number;
  after: string | undefined;
} {
  return {
    tenant: checkTenant(tenant),
    limit: pageLimit(query),
    after: decodeQueryCursor(query?.cursor, isWorkflowCursor)?.after,
  };
}
