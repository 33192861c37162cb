import type { Stores } from '@cordum/store';
import { type JsonObject, type RunCommand, type RunEvent, type WorkflowDefinition, type WorkflowRun, reduce } from '@cordum/workflow';

// Test scaffolding: plays the workflow engine over the run store with the real reducer — start a pending run,
// apply the inbox (approvals, cancel) and any extra events (job results) in one compare-and-set, acking the
// inbox and appending the timeline — so the gateway's routes can be tested against runs that move.

export type EngineTick = { run: WorkflowRun; commands: RunCommand[] };

export async function engineTick(stores: Pick<Stores, 'runs'>, tenant: string, runId: string, extra: RunEvent[] = []): Promise<EngineTick> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const record = await stores.runs.get(tenant, runId);
    if (record === undefined) throw new Error(`no run ${runId} in ${tenant}`);
    const inbox = await stores.runs.inbox(tenant, runId);
    const run = record.doc as unknown as WorkflowRun;
    const events: RunEvent[] = [
      ...(run.status === 'pending' ? [{ type: 'run_started' } as const] : []),
      ...inbox.map((e) => e.event as unknown as RunEvent),
      ...extra,
    ];
    const result = reduce(run, events, await stores.runs.now());
    const last = inbox.at(-1);
    const written = await stores.runs.update(tenant, runId, {
      expectedVersion: record.version,
      doc: result.run,
      ...(result.run.status === record.status ? {} : { status: result.run.status }),
      timeline: result.timeline.map((t) => ({ key: `seq:${t.seq}`, data: t })),
      ...(last === undefined ? {} : { ackInbox: last.seq }),
    });
    if (written.outcome === 'updated') return { run: result.run, commands: result.commands };
  }
  throw new Error(`run ${runId}: lost five compare-and-set races in a row`);
}

/** The job of a step's current attempt (`<run>:<step>@<attempt>`) finished. */
export function jobDone(runId: string, stepId: string, attempt = 1, output: JsonObject = { ok: true }): RunEvent {
  return { type: 'job_result', job_id: `${runId}:${stepId}@${attempt}`, state: 'succeeded', output };
}

/** A definition with an approval gate in front of a job: start → `gate` waits for a human. */
export const GATED: WorkflowDefinition = {
  id: 'gated',
  name: 'Gated deploy',
  version: '3',
  input_schema: { type: 'object', required: ['service'], properties: { service: { type: 'string' } } },
  steps: {
    gate: { id: 'gate', type: 'approval' },
    ship: { id: 'ship', type: 'worker', topic: 'job.ship', depends_on: ['gate'] },
  },
};
