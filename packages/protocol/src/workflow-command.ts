// `sys.workflow.command`: the doorbell between the gateway and the workflow engine. The store is the source of
// truth: the gateway first creates the `pending` run (RunStore.create) or queues the event in the run's inbox
// (RunStore.pushEvent: approve/reject a step, cancel, rerun), and only then publishes this message, which
// says "run <run_id> of <tenant> has work". The engine re-reads the run and its inbox; a lost doorbell costs
// latency (the engine's reconciler finds due runs), never a command. JSON, snake_case, versioned.

export const WORKFLOW_COMMAND_VERSION = 1;

export const WORKFLOW_COMMAND_KINDS = ['start', 'event'] as const;
export type WorkflowCommandKind = (typeof WORKFLOW_COMMAND_KINDS)[number];

export type WorkflowCommand = {
  v: typeof WORKFLOW_COMMAND_VERSION;
  /** `start`: a new pending run; `event`: the run's inbox has new events. */
  kind: WorkflowCommandKind;
  tenant: string;
  run_id: string;
  /** Who rang (principal id), for logs only. */
  by?: string;
};

export function encodeWorkflowCommand(command: Omit<WorkflowCommand, 'v'>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ v: WORKFLOW_COMMAND_VERSION, ...command }));
}

/** The command, or undefined when the bytes are not a valid version-1 command (callers count and drop those). */
export function decodeWorkflowCommand(bytes: Uint8Array): WorkflowCommand | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const o = raw as Record<string, unknown>;
  if (o['v'] !== WORKFLOW_COMMAND_VERSION) return undefined;
  if (typeof o['kind'] !== 'string' || !(WORKFLOW_COMMAND_KINDS as readonly string[]).includes(o['kind'])) return undefined;
  if (typeof o['tenant'] !== 'string' || o['tenant'] === '' || typeof o['run_id'] !== 'string' || o['run_id'] === '') return undefined;
  const command: WorkflowCommand = { v: WORKFLOW_COMMAND_VERSION, kind: o['kind'] as WorkflowCommandKind, tenant: o['tenant'], run_id: o['run_id'] };
  if (typeof o['by'] === 'string') command.by = o['by'];
  return command;
}
