import { generateKeyPairSync } from 'node:crypto';
import {
  JobPriority,
  decodePacket,
  encodePacket,
  newPacket,
  signPacket,
  verifyPacketSignature,
} from '@cordum/protocol';
import { type BenchResult, measureSync } from './harness.js';

export function protocolBenchmarks(): BenchResult[] {
  const packet = newPacket({
    traceId: 'trace-bench',
    senderId: 'gateway-1',
    payload: {
      case: 'jobRequest',
      value: {
        jobId: 'job-bench-1',
        topic: 'job.bench.echo',
        priority: JobPriority.INTERACTIVE,
        contextPtr: 'redis://ctx:job-bench-1',
        tenantId: 'acme',
        labels: { env: 'prod', team: 'sre', run_id: 'r-1' },
        meta: { tenantId: 'acme', capability: 'echo', riskTags: ['read'], requires: ['cpu'] },
      },
    },
  });
  const bytes = encodePacket(packet);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signed = signPacket(packet, privateKey);
  return [
    measureSync('protocol.encode_job_request', 200_000, () => {
      encodePacket(packet);
    }),
    measureSync('protocol.decode_job_request', 200_000, () => {
      decodePacket(bytes);
    }),
    measureSync('protocol.sign_packet', 5_000, () => {
      signPacket(packet, privateKey);
    }),
    measureSync('protocol.verify_packet', 5_000, () => {
      verifyPacketSignature(signed, publicKey);
    }),
  ];
}
