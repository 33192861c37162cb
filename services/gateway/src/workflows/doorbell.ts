import { toError } from '@cordum/core';
import { Subjects, type WorkflowCommandKind, encodeWorkflowCommand } from '@cordum/protocol';
import type { GatewayContext } from '../context.js';

/**
 * Rings the workflow engine (`sys.workflow.command`) after the store write that holds the work: the pending
 * run (`start`) or an inbox event (`event`). Called only once that write succeeded. A failed publish is
 * logged, not thrown: the run is due in the store (RunStore.create's dueAt, pushEvent's due index), so an
 * engine's reconciler picks it up; a lost doorbell costs latency, never the command.
 */
export async function ringDoorbell(ctx: GatewayContext, kind: WorkflowCommandKind, tenant: string, runId: string, by: string): Promise<boolean> {
  try {
    await ctx.bus.publish(Subjects.workflowCommand, encodeWorkflowCommand({ kind, tenant, run_id: runId, by }));
    return true;
  } catch (err) {
    ctx.logger.warn({ run_id: runId, tenant, kind, err: toError(err).message }, 'could not ring the workflow engine (the store has the command)');
    return false;
  }
}
