import { create, toBinary } from '@bufbuild/protobuf';
import {
  ActorType,
  BusPacketSchema,
  HeartbeatSchema,
  JobPriority,
  JobRequestSchema,
  decodePacket,
  encodeBinary,
  encodeJobRequestPacket,
  encodePacket,
  encodeStoredRequest,
  newPacket,
} from '@cordum/protocol';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../auth/principal.js';
import { buildSubmitRequest } from './submit.js';

// The submit path encodes its JobRequest with encodeBinary and wraps the bytes with encodeJobRequestPacket;
// both must give exactly the bytes of the reflective encoders they replace.

const principal: Principal = { id: 'ci-bot', tenant: 'acme', roles: ['admin'], via: 'api_key' };
const long = 'x'.repeat(300);

const bodies: Record<string, unknown>[] = [
  { prompt: 'p' },
  { topic: 'job.bench.echo', prompt: 'summarise the incident timeline', labels: { env: 'dev', team: 'sre' }, risk_tags: ['read'], priority: 'interactive' },
  {
    topic: 'job.demo.echo',
    input: { a: 1 },
    priority: 'critical',
    team_id: 'red',
    project_id: 'p1',
    memory_id: 'mem-1',
    context_mode: 'rag',
    actor_type: 'human',
    actor_id: 'alice',
    capability: 'doc.read',
    risk_tags: ['read', 'write'],
    requires: ['git', 'docker'],
    pack_id: 'demo',
    labels: { env: 'dev', 'ünïcode': 'välue ✓ 🚀', long },
    tags: ['t1', long],
    max_input_tokens: 123_456,
    max_output_tokens: 99,
    max_total_tokens: 2 ** 40,
    deadline_ms: 60_000,
    allow_summarization: true,
    allow_retrieval: true,
    idempotency_key: 'idem-1',
    adapter_id: 'adapter',
    principal_id: 'someone-else',
  },
  { prompt: 'uses secret://vault/key', labels: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, `value-${i}-${long}`])) },
];

describe('submit encoding', () => {
  it.each(bodies.map((b, i) => [i, b] as const))('encodeBinary gives toBinary bytes for submit body %i', (_i, body) => {
    const request = buildSubmitRequest(body, principal, '0190d5c8-6a3f-7c1e-9d2b-3f4a5b6c7d8e');
    request.contextPtr = 'ctx://acme/0190d5c8-6a3f-7c1e-9d2b-3f4a5b6c7d8e';
    const bytes = encodeBinary(JobRequestSchema, request);
    expect(Buffer.from(bytes).equals(Buffer.from(toBinary(JobRequestSchema, request)))).toBe(true);
    expect(Buffer.from(bytes).toString('base64')).toBe(encodeStoredRequest(request));
  });

  it('encodeBinary matches toBinary for nested messages, negative and 64-bit numbers, oneofs and unknown fields', () => {
    const request = create(JobRequestSchema, {
      jobId: 'j',
      priority: JobPriority.BATCH,
      stepIndex: -3,
      budget: { maxInputTokens: -1n, maxOutputTokens: 2n ** 62n, maxTotalTokens: 0n, deadlineMs: 1n },
      compensation: {
        topic: 'job.undo',
        env: { a: '', '': 'b' },
        contextHints: { maxInputTokens: 0, tags: ['', 'x'] },
        meta: { actorType: ActorType.SERVICE, labels: { k: 'v' }, riskTags: [long] },
      },
    });
    expect(Buffer.from(encodeBinary(JobRequestSchema, request)).equals(Buffer.from(toBinary(JobRequestSchema, request)))).toBe(true);
    request.$unknown = [{ no: 99, wireType: 2, data: new Uint8Array([3, 1, 2, 3]) }];
    expect(Buffer.from(encodeBinary(JobRequestSchema, request)).equals(Buffer.from(toBinary(JobRequestSchema, request)))).toBe(true);
    const packets = [
      newPacket({ traceId: 't', senderId: 's', payload: { case: 'jobRequest', value: request } }),
      newPacket({ traceId: 't', senderId: 's', payload: { case: 'heartbeat', value: create(HeartbeatSchema, { workerId: 'w', cpuLoad: 0.5 }) } }),
    ];
    for (const packet of packets) expect(Buffer.from(encodeBinary(BusPacketSchema, packet)).equals(Buffer.from(encodePacket(packet)))).toBe(true);
  });

  it('encodeJobRequestPacket gives the bytes of newPacket + encodePacket', () => {
    const request = buildSubmitRequest(bodies[2] ?? {}, principal, 'job-1');
    for (const createdAtMs of [0, 1_000, 1_700_000_000_123, 1_700_000_000_000]) {
      for (const [traceId, senderId] of [
        ['0af7651916cd43dd8448eb211c80319c', 'gw-1'],
        ['', ''],
        [long, 'gätewäy'],
      ] as const) {
        const expected = encodePacket(
          newPacket({ traceId, senderId, createdAt: new Date(createdAtMs), payload: { case: 'jobRequest', value: request } }),
        );
        const got = encodeJobRequestPacket({ traceId, senderId, createdAtMs, request: encodeBinary(JobRequestSchema, request) });
        expect(Buffer.from(got).equals(Buffer.from(expected))).toBe(true);
        expect(decodePacket(got).payload.value).toEqual(request);
      }
    }
  });
});
