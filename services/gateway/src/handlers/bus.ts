import type { Subscription } from '@cordum/bus';
import { toError } from '@cordum/core';
import { Subjects, decodePacket } from '@cordum/protocol';
import type { GatewayContext } from '../context.js';

/** sys.heartbeat, fan-out (no queue group): every gateway instance keeps its own view of live workers. */
export async function subscribeHeartbeats(ctx: GatewayContext): Promise<Subscription> {
  return ctx.bus.subscribe(Subjects.heartbeat, (msg) => {
    try {
      const packet = decodePacket(msg.data);
      if (packet.payload.case === 'heartbeat') ctx.workers.heartbeat(packet.payload.value, ctx.clock.now());
    } catch (err) {
      ctx.logger.debug({ err: toError(err).message }, 'malformed heartbeat ignored');
    }
  });
}
