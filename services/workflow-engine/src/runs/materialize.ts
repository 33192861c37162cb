import { InvalidError, type JsonValue, isPlainObject } from '@cordum/core';
import type { RunRecord, SchemaStore, WorkflowStore } from '@cordum/store';
import {
  type CompiledWorkflow,
  RUN_FORMAT,
  type RunEvent,
  type WorkflowRun,
  compileWorkflow,
  createRun,
} from '@cordum/workflow';

// From a stored RunRecord to the engine's WorkflowRun. The gateway stores the run document createRun()
// made (the definition embedded: a run is pinned to what it started with, whatever later puts change). A
// document without an embedded definition — a bare run request `{input, dry_run, …}` — is materialised from
// the definition version the record is pinned to (WorkflowStore.getVersion), never from the latest.

export type CompiledCache = { get(run: WorkflowRun): CompiledWorkflow };

/** Compiled definitions by definition hash (compiling and hashing is the expensive part of a reduce). */
export function createCompiledCache(max = 256): CompiledCache {
  const cache = new Map<string, CompiledWorkflow>();
  return {
    get(run) {
      const hit = cache.get(run.definition_hash);
      if (hit !== undefined) return hit;
      const compiled = compileWorkflow(run.definition);
      if (cache.size >= max) cache.delete(cache.keys().next().value as string);
      cache.set(run.definition_hash, compiled);
      return compiled;
    },
  };
}

function isFullRun(doc: Readonly<Record<string, JsonValue>>): boolean {
  return doc['format'] === RUN_FORMAT && isPlainObject(doc['definition']) && isPlainObject(doc['steps']) && typeof doc['status'] === 'string';
}

const str = (v: JsonValue | undefined): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export async function materializeRun(record: RunRecord, workflows: Pick<WorkflowStore, 'getVersion'>): Promise<WorkflowRun> {
  const doc = record.doc;
  if (isFullRun(doc)) {
    // A fresh object per read (the store parses each time): the reducer never mutates it anyway.
    const run = doc as unknown as WorkflowRun;
    run.version = record.version;
    run.tenant_id ??= record.tenant;
    return run;
  }
  const version = await workflows.getVersion(record.tenant, record.workflowId, record.workflowVersion);
  if (version === undefined) {
    throw new InvalidError(`workflow ${record.workflowId} version ${record.workflowVersion} does not exist (purged?)`, {
      details: { workflow_id: record.workflowId, workflow_version: record.workflowVersion },
    });
  }
  const input = doc['input'];
  const labels = isPlainObject(doc['labels']) ? (doc['labels'] as Record<string, string>) : record.labels;
  const run = createRun({
    id: record.id,
    definition: version.doc,
    input: isPlainObject(input) ? input : {},
    now: record.createdAt,
    tenant_id: record.tenant,
    workflow_revision: record.workflowVersion,
    dry_run: doc['dry_run'] === true,
    labels: { ...labels },
    ...(str(doc['triggered_by']) === undefined ? {} : { triggered_by: str(doc['triggered_by']) as string }),
    ...(str(doc['principal_id']) === undefined ? {} : { principal_id: str(doc['principal_id']) as string }),
    ...(str(doc['trace_id']) === undefined ? {} : { trace_id: str(doc['trace_id']) as string }),
    ...(record.idempotencyKey === null ? {} : { idempotency_key: record.idempotencyKey }),
  });
  run.version = record.version;
  return run;
}

/** Schema-registry ids the run's steps refer to that the run does not carry yet. */
export function missingSchemaIds(run: WorkflowRun): string[] {
  const ids = new Set<string>();
  for (const step of Object.values(run.definition.steps)) {
    for (const id of [step.input_schema_id, step.output_schema_id]) {
      if (id !== undefined && id !== '' && run.schemas?.[id] === undefined) ids.add(id);
    }
  }
  return [...ids].sort();
}

/**
 * Resolves registry schemas once, when the run starts, into the run itself: the reducer stays pure and a
 * later change of a registry schema never changes a started run. Unknown ids stay unresolved (the step then
 * fails with schema_not_found).
 */
export async function resolveSchemas(run: WorkflowRun, tenant: string, schemas: Pick<SchemaStore, 'get'> | undefined): Promise<void> {
  if (schemas === undefined) return;
  const ids = missingSchemaIds(run);
  if (ids.length === 0) return;
  const found = await Promise.all(ids.map(async (id) => [id, await schemas.get(tenant, id)] as const));
  for (const [id, rec] of found) {
    if (rec === undefined || !isPlainObject(rec.schema)) continue;
    run.schemas = { ...run.schemas, [id]: rec.schema };
  }
}

const EVENT_TYPES = new Set(['run_started', 'job_result', 'timer_fired', 'step_approved', 'step_rejected', 'cancel_requested', 'rerun_from']);
const JOB_STATES = new Set(['succeeded', 'failed', 'cancelled', 'timed_out', 'denied']);

/** An inbox event as a RunEvent, or undefined when it is not one (logged and dropped by the caller). */
export function toRunEvent(raw: Readonly<Record<string, JsonValue>>): RunEvent | undefined {
  const type = raw['type'] === 'cancel' ? 'cancel_requested' : raw['type'];
  if (typeof type !== 'string' || !EVENT_TYPES.has(type)) return undefined;
  const ev = { ...raw, type } as Record<string, JsonValue>;
  switch (type) {
    case 'job_result':
      return typeof ev['job_id'] === 'string' && typeof ev['state'] === 'string' && JOB_STATES.has(ev['state']) ? (ev as unknown as RunEvent) : undefined;
    case 'timer_fired':
      return typeof ev['timer_id'] === 'string' ? (ev as unknown as RunEvent) : undefined;
    case 'step_approved':
    case 'step_rejected':
      return typeof ev['step_id'] === 'string' && typeof ev['by'] === 'string' ? (ev as unknown as RunEvent) : undefined;
    case 'rerun_from':
      return typeof ev['step_id'] === 'string' ? (ev as unknown as RunEvent) : undefined;
    default:
      return ev as unknown as RunEvent;
  }
}
