import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import {
  BusPacketSchema,
  ErrorCode,
  JobRequestSchema,
  JobStatus,
  PROTOCOL_VERSION,
  PacketError,
  decodePacket,
  encodePacket,
  newPacket,
  validatePacket,
} from './index.js';

const GOLDEN_HEX =
  '0a0774726163652d31120b636c69656e742d6e6f64651a0608c09784bc062001522e0a0a6a6f622d6563686f2d3112086a6f622e6563686f221672656469733a2f2f6374782f6a6f622d6563686f2d31';

function goldenPacket() {
  return create(BusPacketSchema, {
    traceId: 'trace-1',
    senderId: 'client-node',
    createdAt: { seconds: 1736510400n },
    protocolVersion: 1,
    payload: {
      case: 'jobRequest',
      value: { jobId: 'job-echo-1', topic: 'job.echo', contextPtr: 'redis://ctx/job-echo-1' },
    },
  });
}

describe('BusPacket golden vector (CAP v2 spec §2)', () => {
  it('encodes to exactly the 80 published bytes', () => {
    const bytes = encodePacket(goldenPacket());
    expect(bytes.byteLength).toBe(80);
    expect(Buffer.from(bytes).toString('hex')).toBe(GOLDEN_HEX);
  });

  it('decodes back to the same packet', () => {
    const packet = decodePacket(Buffer.from(GOLDEN_HEX, 'hex'));
    expect(packet.traceId).toBe('trace-1');
    expect(packet.senderId).toBe('client-node');
    expect(packet.createdAt?.seconds).toBe(1736510400n);
    expect(packet.createdAt?.nanos).toBe(0);
    expect(packet.protocolVersion).toBe(1);
    expect(packet.payload.case).toBe('jobRequest');
    if (packet.payload.case !== 'jobRequest') throw new Error('unreachable');
    expect(packet.payload.value.jobId).toBe('job-echo-1');
    expect(packet.payload.value.topic).toBe('job.echo');
    expect(packet.payload.value.contextPtr).toBe('redis://ctx/job-echo-1');
    expect(Buffer.from(encodePacket(packet)).toString('hex')).toBe(GOLDEN_HEX);
  });
});

describe('forward compatibility', () => {
  it('decodes a packet carrying an unknown future field and keeps it on re-encode', () => {
    // Field 99 (varint 42) and field 100 (string "x") are unknown to this schema.
    const future = Buffer.concat([Buffer.from(GOLDEN_HEX, 'hex'), Buffer.from('98062a', 'hex'), Buffer.from('a2060178', 'hex')]);
    const packet = decodePacket(future);
    expect(packet.payload.case).toBe('jobRequest');
    expect(validatePacket(packet)).toEqual({ ok: true });
    expect(Buffer.from(encodePacket(packet)).equals(future)).toBe(true);
  });

  it('reads an unknown oneof member as "no payload" and refuses to execute it', () => {
    // Field 30, length-delimited: a payload kind added by a newer peer.
    const bytes = Buffer.from('0a0174' + '2001' + 'f201020801', 'hex');
    const packet = decodePacket(bytes);
    expect(packet.payload.case).toBeUndefined();
    const check = validatePacket(packet);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.code).toBe(ErrorCode.PROTOCOL_UNKNOWN_PAYLOAD);
  });
});

describe('validatePacket', () => {
  it('rejects another protocol version with PROTOCOL_VERSION_MISMATCH', () => {
    const packet = goldenPacket();
    packet.protocolVersion = 2;
    const check = validatePacket(packet);
    expect(check).toMatchObject({ ok: false, code: ErrorCode.PROTOCOL_VERSION_MISMATCH });
  });

  it('rejects a payload the consumer does not execute', () => {
    const check = validatePacket(goldenPacket(), { expect: ['jobResult'] });
    expect(check).toMatchObject({ ok: false, code: ErrorCode.PROTOCOL_UNKNOWN_PAYLOAD });
  });

  it('optionally requires sender_id to match the worker id of a result', () => {
    const packet = newPacket({
      traceId: 't',
      senderId: 'worker-a',
      payload: { case: 'jobResult', value: { jobId: 'j', workerId: 'worker-b', status: JobStatus.SUCCEEDED } },
    });
    expect(validatePacket(packet).ok).toBe(true);
    expect(validatePacket(packet, { requireSenderMatch: true })).toMatchObject({
      ok: false,
      code: ErrorCode.PROTOCOL_MALFORMED_PACKET,
    });
  });
});

describe('decodePacket', () => {
  it('throws PacketError(PROTOCOL_MALFORMED_PACKET) for garbage', () => {
    const attempt = () => decodePacket(Buffer.from('0aff', 'hex'));
    expect(attempt).toThrow(PacketError);
    try {
      attempt();
    } catch (err) {
      expect((err as PacketError).code).toBe(ErrorCode.PROTOCOL_MALFORMED_PACKET);
    }
  });
});

describe('newPacket', () => {
  it('stamps protocol version 1 and the creation time', () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    const packet = newPacket({
      traceId: 't',
      senderId: 's',
      createdAt: at,
      payload: { case: 'jobRequest', value: create(JobRequestSchema, { jobId: 'j', topic: 'job.x' }) },
    });
    expect(packet.protocolVersion).toBe(PROTOCOL_VERSION);
    expect(packet.createdAt?.seconds).toBe(BigInt(Math.floor(at.getTime() / 1000)));
    expect(packet.createdAt?.nanos).toBe(678_000_000);
    const again = fromBinary(BusPacketSchema, toBinary(BusPacketSchema, packet));
    expect(again.createdAt?.nanos).toBe(678_000_000);
  });
});
