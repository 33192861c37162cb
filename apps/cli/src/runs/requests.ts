import { usageError } from '../errors.js';
import { type Query, type RequestOptions, apiPath } from '../gateway/client.js';
import { type ReadDocument, requireObject } from '../input/read.js';

// Flags of the workflow and run commands → gateway requests. Pure: files are read by the caller, so tests
// check exactly what would be sent.

export type GatewayRequest = {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly options: RequestOptions;
};

const WORKFLOWS = '/api/v1/workflows';
const RUNS = '/api/v1/workflow-runs';

/**
 * POST /api/v1/workflows. A YAML file goes as it is (Content-Type application/yaml), so the gateway's own
 * parser and its error paths apply; JSON goes as JSON. Either way it must be an object.
 */
export function createWorkflowRequest(doc: ReadDocument, flags: { expectedRevision?: number | undefined }): GatewayRequest {
  const definition = requireObject(doc, 'workflow definition');
  const query: Query = { expected_revision: flags.expectedRevision };
  return {
    method: 'POST',
    path: WORKFLOWS,
    options: doc.format === 'yaml' ? { query, raw: { contentType: 'application/yaml', text: doc.text } } : { query, body: definition },
  };
}

export type StartRunFlags = {
  dryRun?: boolean;
  idempotencyKey?: string;
  team?: string;
  org?: string;
  revision?: number;
};

function idempotencyHeader(key: string | undefined): Record<string, string> {
  if (key === undefined) return {};
  if (key.trim() === '') throw usageError('--idempotency-key must not be empty');
  return { 'idempotency-key': key };
}

/** POST /api/v1/workflows/{id}/runs: the body is the run input (an object; {} when none is given). */
export function startRunRequest(workflowId: string, input: ReadDocument | undefined, flags: StartRunFlags): GatewayRequest {
  const body = input === undefined ? {} : requireObject(input, '--input');
  return {
    method: 'POST',
    path: `${apiPath(WORKFLOWS, workflowId)}/runs`,
    options: {
      query: { dry_run: flags.dryRun === true ? true : undefined, team_id: flags.team, org_id: flags.org, revision: flags.revision },
      headers: idempotencyHeader(flags.idempotencyKey),
      body,
    },
  };
}

/** POST /api/v1/workflow-runs/{id}/rerun. `dryRun` undefined keeps the source run's flag. */
export function rerunRequest(runId: string, flags: { fromStep?: string; dryRun?: boolean; idempotencyKey?: string }): GatewayRequest {
  return {
    method: 'POST',
    path: `${apiPath(RUNS, runId)}/rerun`,
    options: {
      headers: idempotencyHeader(flags.idempotencyKey),
      body: {
        ...(flags.fromStep === undefined ? {} : { from_step: flags.fromStep }),
        ...(flags.dryRun === undefined ? {} : { dry_run: flags.dryRun }),
      },
    },
  };
}

/**
 * An approval step's decision on upstream's path POST /api/v1/workflows/{wf}/runs/{run}/steps/{step}/approve
 * (`approved: false` rejects); the gateway checks that the run belongs to the workflow.
 */
export function stepDecisionRequest(
  workflowId: string,
  runId: string,
  stepId: string,
  approved: boolean,
  flags: { reason?: string; note?: string },
): GatewayRequest {
  return {
    method: 'POST',
    path: `${apiPath(WORKFLOWS, workflowId, 'runs', runId, 'steps', stepId)}/approve`,
    options: {
      body: {
        approved,
        ...(flags.reason === undefined ? {} : { reason: flags.reason }),
        ...(flags.note === undefined ? {} : { note: flags.note }),
      },
    },
  };
}
