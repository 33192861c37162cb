import { create, equals, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import {
  ActorType,
  AlertSeverity,
  BusPacketSchema,
  ComponentRole,
  ErrorCode,
  JobPriority,
  JobStatus,
  WorkerHandshakeProofAlgorithm,
  WorkerHandshakePurpose,
  WorkerHandshakeRejectionReason,
  decodePacket,
  encodePacket,
  newPacket,
} from './index.js';

type PayloadInit = NonNullable<MessageInitShape<typeof BusPacketSchema>['payload']>;

const meta = {
  tenantId: 'acme',
  actorId: 'alice',
  actorType: ActorType.HUMAN,
  idempotencyKey: 'idem-1',
  capability: 'repo.write',
  riskTags: ['write', 'prod'],
  requires: ['git', 'docker'],
  packId: 'pack-a',
  labels: { env: 'prod', team: 'sre' },
};
const budget = { maxInputTokens: 1000n, maxOutputTokens: 200n, maxTotalTokens: 1200n, deadlineMs: 60_000n };
const hints = { maxInputTokens: 900, allowSummarization: true, allowRetrieval: true, tags: ['a', 'b'] };
const challenge = {
  requestId: 'r1',
  challengeId: 'c1',
  traceId: 't1',
  workerId: 'w1',
  agentId: 'agent',
  tenantId: 'acme',
  proofKeyId: 'k1',
  proofAlgorithm: WorkerHandshakeProofAlgorithm.ECDSA_P256_SHA256,
  serverKeyId: 'sk',
  audience: 'cordum-scheduler',
  purpose: WorkerHandshakePurpose.RENEW,
  clientNonce: new Uint8Array(32).fill(1),
  serverNonce: new Uint8Array(32).fill(2),
  protocolVersion: 1,
  sdkVersion: '1.2.3',
  issuedAt: { seconds: 1_700_000_000n, nanos: 5 },
  expiresAt: { seconds: 1_700_000_060n },
};
const handshake = {
  componentId: 'w1',
  role: ComponentRole.WORKER,
  supportedVersions: [1, 2],
  capabilities: { progress: true, cancel: true, signatures: false },
  sdkVersion: '0.1.0',
  readyTopics: ['job.echo'],
  agentName: 'echo',
};

// One fully populated example per payload member; every field set to a non-default value.
const PAYLOADS: Record<string, PayloadInit> = {
  jobRequest: {
    case: 'jobRequest',
    value: {
      jobId: 'j1',
      topic: 'job.echo',
      priority: JobPriority.CRITICAL,
      contextPtr: 'redis://ctx:j1',
      adapterId: 'ad',
      env: { A: '1', B: '2' },
      parentJobId: 'p',
      workflowId: 'wf',
      stepIndex: 3,
      memoryId: 'mem',
      contextHints: hints,
      budget,
      tenantId: 'acme',
      principalId: 'alice',
      labels: { k: 'v' },
      meta,
      compensation: {
        topic: 'job.undo',
        contextPtr: 'redis://ctx:u',
        priority: JobPriority.BATCH,
        adapterId: 'ad2',
        env: { X: 'y' },
        memoryId: 'm2',
        contextHints: hints,
        budget,
        tenantId: 'acme',
        principalId: 'bob',
        labels: { undo: 'true' },
        meta,
      },
    },
  },
  jobResult: {
    case: 'jobResult',
    value: {
      jobId: 'j1',
      status: JobStatus.FAILED_RETRYABLE,
      resultPtr: 'redis://res:j1',
      workerId: 'w1',
      executionMs: 1234n,
      errorCode: 'JOB_TIMEOUT',
      errorMessage: 'took too long',
      artifactPtrs: ['redis://art:1', 'redis://art:2'],
      errorCodeEnum: ErrorCode.JOB_TIMEOUT,
    },
  },
  heartbeat: {
    case: 'heartbeat',
    value: {
      workerId: 'w1',
      region: 'eu',
      type: 'gpu',
      cpuLoad: 12.5,
      gpuUtilization: 50,
      activeJobs: 2,
      capabilities: ['llm'],
      pool: 'job.code.llm',
      maxParallelJobs: 8,
      labels: { zone: 'a' },
      memoryLoad: 33.25,
      progressPct: 40,
      lastMemo: 'working',
      authToken: 'tok',
      agentName: 'coder',
    },
  },
  alert: {
    case: 'alert',
    value: {
      level: 'WARN',
      message: 'disk',
      component: 'c',
      code: 'X',
      severity: AlertSeverity.CRITICAL,
      errorCodeEnum: ErrorCode.TRANSPORT_CONNECTION_LOST,
      sourceComponent: 'scheduler',
      details: { a: 'b' },
      traceId: 't',
    },
  },
  jobProgress: {
    case: 'jobProgress',
    value: {
      jobId: 'j1',
      stepId: 's',
      percent: 55,
      message: 'half',
      resultPtr: 'redis://res:partial',
      artifactPtrs: ['redis://art:3'],
      status: JobStatus.RUNNING,
    },
  },
  jobCancel: { case: 'jobCancel', value: { jobId: 'j1', reason: 'user', requestedBy: 'alice' } },
  handshake: { case: 'handshake', value: handshake },
  workerHandshakeChallengeRequest: {
    case: 'workerHandshakeChallengeRequest',
    value: {
      requestId: 'r1',
      traceId: 't',
      workerId: 'w1',
      proofKeyId: 'k',
      proofAlgorithm: WorkerHandshakeProofAlgorithm.ECDSA_P256_SHA256,
      audience: 'cordum-scheduler',
      purpose: WorkerHandshakePurpose.ISSUE,
      clientNonce: new Uint8Array(32).fill(7),
      protocolVersion: 1,
      sdkVersion: '1',
    },
  },
  workerHandshakeChallenge: { case: 'workerHandshakeChallenge', value: challenge },
  workerHandshakeAuthenticate: {
    case: 'workerHandshakeAuthenticate',
    value: { challenge, capabilityHandshake: handshake },
  },
  workerHandshakeResult: {
    case: 'workerHandshakeResult',
    value: {
      challenge,
      accepted: false,
      rejectionReason: WorkerHandshakeRejectionReason.CLOCK_SKEW,
      tokenExpiresAt: { seconds: 5n },
      issuedAt: { seconds: 6n },
    },
  },
};

describe('every BusPacket payload round-trips', () => {
  it('has an example for every member of the payload oneof', () => {
    const members = BusPacketSchema.oneofs.find((o) => o.name === 'payload')?.fields.map((f) => f.localName) ?? [];
    expect(members.length).toBeGreaterThanOrEqual(11);
    expect(Object.keys(PAYLOADS).sort()).toEqual([...members].sort());
  });

  for (const [name, payload] of Object.entries(PAYLOADS)) {
    it(name, () => {
      const packet = newPacket({ traceId: 'trace', senderId: 'w1', payload, authToken: 'session' });
      packet.signature = new Uint8Array([1, 2, 3]);
      const decoded = decodePacket(encodePacket(packet));
      expect(decoded.payload.case).toBe(name);
      expect(equals(BusPacketSchema, decoded, packet)).toBe(true);
      expect(decoded.authToken).toBe('session');
      expect(encodePacket(decoded)).toEqual(encodePacket(packet));
      // encodePacket's one-pass encoder gives exactly protobuf-es's bytes.
      expect(encodePacket(packet)).toEqual(toBinary(BusPacketSchema, packet));
    });
  }

  it('a default packet encodes to zero bytes (proto3 defaults omitted)', () => {
    expect(encodePacket(create(BusPacketSchema)).byteLength).toBe(0);
  });
});
