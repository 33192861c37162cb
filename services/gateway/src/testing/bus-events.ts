import type { Bus } from '@cordum/bus';
import { AlertSeverity, JobStatus, Subjects, encodePacket, newPacket } from '@cordum/protocol';

// Test scaffolding: what the scheduler, workers and the workflow engine publish, as the stream sees it.

export async function publishResult(bus: Bus, jobId: string, status: JobStatus = JobStatus.SUCCEEDED, resultPtr = `redis://res:${jobId}`): Promise<void> {
  const packet = newPacket({
    traceId: `trace-${jobId}`,
    senderId: 'worker-1',
    payload: { case: 'jobResult', value: { jobId, status, resultPtr, workerId: 'worker-1', executionMs: 42n } },
  });
  await bus.publish(Subjects.jobResult, encodePacket(packet));
}

export async function publishProgress(bus: Bus, jobId: string, percent: number, message = `${percent}%`): Promise<void> {
  const packet = newPacket({
    traceId: jobId,
    senderId: 'worker-1',
    payload: { case: 'jobProgress', value: { jobId, percent, message, status: JobStatus.RUNNING } },
  });
  await bus.publish(Subjects.jobProgress, encodePacket(packet));
}

export async function publishCancel(bus: Bus, jobId: string, reason = 'stop'): Promise<void> {
  const packet = newPacket({ traceId: jobId, senderId: 'scheduler-1', payload: { case: 'jobCancel', value: { jobId, reason, requestedBy: 'ada' } } });
  await bus.publish(Subjects.jobCancel, encodePacket(packet));
}

export async function publishDlq(bus: Bus, jobId: string, reasonCode = 'max_retries_exceeded'): Promise<void> {
  const packet = newPacket({
    traceId: `trace-${jobId}`,
    senderId: 'scheduler-1',
    payload: { case: 'jobResult', value: { jobId, status: JobStatus.FAILED, errorCode: reasonCode, errorMessage: 'it kept failing' } },
  });
  await bus.publish(Subjects.jobDlq, encodePacket(packet));
}

/** A submit as a raw CAP client would publish it (tenant as the packet says). */
export async function publishSubmit(bus: Bus, jobId: string, tenant: string, topic = 'job.raw'): Promise<void> {
  const packet = newPacket({
    traceId: `trace-${jobId}`,
    senderId: 'raw-client',
    payload: { case: 'jobRequest', value: { jobId, topic, tenantId: tenant } },
  });
  await bus.publish(Subjects.jobSubmit, encodePacket(packet));
}

/** A SystemAlert on sys.workflow.event (the workflow engine's run events) or sys.alert. */
export async function publishAlert(
  bus: Bus,
  details: Record<string, string>,
  options: { subject?: string; message?: string; severity?: AlertSeverity } = {},
): Promise<void> {
  const packet = newPacket({
    traceId: 'trace-alert',
    senderId: 'workflow-engine-1',
    payload: {
      case: 'alert',
      value: { message: options.message ?? 'run event', severity: options.severity ?? AlertSeverity.INFO, sourceComponent: 'workflow-engine', details },
    },
  });
  await bus.publish(options.subject ?? Subjects.workflowEvent, encodePacket(packet));
}
