import type { Bus, Subscription } from '@cordum/bus';
import {
  type BusPacket,
  type PacketInit,
  Subjects,
  decodePacket,
  dispatchMsgId,
  encodePacket,
  newPacket,
} from '@cordum/protocol';

// Test-only helpers (excluded from the build by tsconfig): a stand-in for the scheduler's dispatch and a
// recorder of the packets published on a subject. No mocks: they speak to a real Bus.

/**
 * Stands in for the scheduler's dispatch: every JobRequest submitted on sys.job.submit is re-published
 * unchanged on its topic, with the dispatch msg-id `<job>#1`, as the scheduler does for a first attempt.
 */
export async function startRelay(bus: Bus): Promise<{ stop(): Promise<void> }> {
  const sub = await bus.subscribe(
    Subjects.jobSubmit,
    async (msg) => {
      const packet = decodePacket(msg.data);
      if (packet.payload.case !== 'jobRequest') return;
      const { jobId, topic } = packet.payload.value;
      await bus.publish(topic, msg.data, { msgId: dispatchMsgId(jobId, 1) });
    },
    { queue: 'cordum-scheduler' },
  );
  return { stop: () => sub.drain() };
}

export type Recorder = {
  readonly packets: BusPacket[];
  stop(): Promise<void>;
};

/** Keeps every packet published on a subject (fan-out subscription). */
export async function record(bus: Bus, subject: string): Promise<Recorder> {
  const packets: BusPacket[] = [];
  const sub: Subscription = await bus.subscribe(subject, (msg) => {
    packets.push(decodePacket(msg.data));
  });
  return { packets, stop: () => sub.drain() };
}

export type JobRequestInit = Extract<PacketInit['payload'], { case: 'jobRequest' }>['value'];

/** Publishes a JobRequest straight onto a subject (as a scheduler dispatch would). */
export async function dispatch(
  bus: Bus,
  subject: string,
  request: JobRequestInit,
  options: { traceId?: string; senderId?: string; msgId?: string; mutate?: (p: BusPacket) => BusPacket } = {},
): Promise<void> {
  let packet = newPacket({
    traceId: options.traceId ?? `trace-${String(request.jobId)}`,
    senderId: options.senderId ?? 'test-scheduler',
    payload: { case: 'jobRequest', value: request },
  });
  if (options.mutate !== undefined) packet = options.mutate(packet);
  await bus.publish(subject, encodePacket(packet), options.msgId === undefined ? {} : { msgId: options.msgId });
}
