import { generateKeyPairSync, sign } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import {
  BusPacketSchema,
  ErrorCode,
  JobStatus,
  canonicalEncode,
  createPacketVerifier,
  decodePacket,
  encodePacket,
  newPacket,
  signPacket,
  signingBytes,
  verifyPacketSignature,
} from './index.js';

const keys = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });

function resultPacket() {
  return newPacket({
    traceId: 'trace-9',
    senderId: 'worker-1',
    createdAt: new Date('2026-03-01T00:00:00Z'),
    payload: {
      case: 'jobResult',
      value: { jobId: 'job-1', status: JobStatus.SUCCEEDED, workerId: 'worker-1', resultPtr: 'redis://res:job-1' },
    },
  });
}

describe('packet signatures (ECDSA P-256, DER)', () => {
  it('signs and verifies, and the signature is DER (starts with a SEQUENCE, 70-72 bytes)', () => {
    const { privateKey, publicKey } = keys();
    const signed = signPacket(resultPacket(), privateKey);
    expect(signed.signature[0]).toBe(0x30);
    expect(signed.signature.byteLength).toBeGreaterThanOrEqual(68);
    expect(signed.signature.byteLength).toBeLessThanOrEqual(72);
    expect(verifyPacketSignature(signed, publicKey)).toBe(true);
    // It survives the wire.
    const onWire = encodePacket(signed);
    expect(verifyPacketSignature(decodePacket(onWire), publicKey, onWire)).toBe(true);
  });

  it('accepts PEM strings as keys', () => {
    const { privateKey, publicKey } = keys();
    const pemPriv = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const pemPub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(verifyPacketSignature(signPacket(resultPacket(), pemPriv), pemPub)).toBe(true);
  });

  it('a tampered packet fails verification', () => {
    const { privateKey, publicKey } = keys();
    const signed = signPacket(resultPacket(), privateKey);
    const bytes = encodePacket(signed);
    const tampered = decodePacket(bytes);
    if (tampered.payload.case !== 'jobResult') throw new Error('unreachable');
    tampered.payload.value.resultPtr = 'redis://res:evil';
    expect(verifyPacketSignature(tampered, publicKey)).toBe(false);
    expect(verifyPacketSignature(tampered, publicKey, encodePacket(tampered))).toBe(false);

    // Flip one byte of the raw bytes outside the signature field.
    const raw = Buffer.from(bytes);
    const at = raw.indexOf(Buffer.from('job-1'));
    raw[at] = 'J'.charCodeAt(0);
    expect(verifyPacketSignature(decodePacket(raw), publicKey, raw)).toBe(false);
  });

  it('a signature by another key fails', () => {
    const signer = keys();
    const other = keys();
    expect(verifyPacketSignature(signPacket(resultPacket(), signer.privateKey), other.publicKey)).toBe(false);
  });

  it('refuses non-P-256 keys', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    expect(() => signPacket(resultPacket(), privateKey)).toThrow(/P-256/);
  });

  it('signs the canonical bytes: map insertion order and integer-like keys do not matter', () => {
    const a = newPacket({
      traceId: 't',
      senderId: 's',
      createdAt: new Date(0),
      payload: { case: 'jobRequest', value: { jobId: 'j', labels: { b: '2', a: '1', '10': 'x', '9': 'y' } } },
    });
    const b = newPacket({
      traceId: 't',
      senderId: 's',
      createdAt: new Date(0),
      payload: { case: 'jobRequest', value: { jobId: 'j', labels: { '9': 'y', a: '1', '10': 'x', b: '2' } } },
    });
    expect(Buffer.from(signingBytes(a)).equals(Buffer.from(signingBytes(b)))).toBe(true);
    // Keys are sorted bytewise: "10" < "9" < "a" < "b".
    const hex = Buffer.from(signingBytes(a)).toString('hex');
    const order = ['10', '9', 'a', 'b'].map((k) => hex.indexOf(Buffer.from(k).toString('hex') + '12'));
    expect(order).toEqual([...order].sort((x, y) => x - y));
  });

  it('canonical bytes omit the signature and put unknown fields in tag order', () => {
    // trace_id (1) "t", unknown field 5 = varint 1, sender_id (2) "s": canonical moves field 5 after field 2.
    const input = Buffer.from('0a0174' + '2801' + '120173', 'hex');
    const packet = decodePacket(input);
    packet.signature = new Uint8Array([9, 9]);
    expect(Buffer.from(signingBytes(packet)).toString('hex')).toBe('0a0174' + '120173' + '2801');
    expect(Buffer.from(canonicalEncode(BusPacketSchema, packet)).toString('hex')).toContain('7202');
  });

  it('verifies a signature made over exactly the sent bytes by a non-canonical encoder', () => {
    const { privateKey, publicKey } = keys();
    // sender_id before trace_id: valid protobuf, not canonical.
    const body = Buffer.from('120173' + '0a0174' + '2001', 'hex');
    const sig = sign('sha256', body, { key: privateKey, dsaEncoding: 'der' });
    const sigField = Buffer.concat([Buffer.from([0x72, sig.length]), sig]);
    const wire = Buffer.concat([body, sigField]);
    const packet = decodePacket(wire);
    expect(verifyPacketSignature(packet, publicKey)).toBe(false);
    expect(verifyPacketSignature(packet, publicKey, wire)).toBe(true);
  });

  it('never lets the raw bytes vouch for a packet changed after decoding', () => {
    const { privateKey, publicKey } = keys();
    const body = Buffer.from('120173' + '0a0174' + '2001', 'hex');
    const sig = sign('sha256', body, { key: privateKey, dsaEncoding: 'der' });
    const wire = Buffer.concat([body, Buffer.from([0x72, sig.length]), sig]);
    const packet = decodePacket(wire);
    expect(verifyPacketSignature(packet, publicKey, wire)).toBe(true);
    packet.senderId = 'someone-else';
    expect(verifyPacketSignature(packet, publicKey, wire)).toBe(false);
  });

  it('keeps empty-but-set sub-messages (their presence is meaningful)', () => {
    const p = create(BusPacketSchema, { payload: { case: 'jobCancel', value: {} } });
    expect(Buffer.from(canonicalEncode(BusPacketSchema, p)).toString('hex')).toBe('8201' + '00');
    expect(Buffer.from(toBinary(BusPacketSchema, p)).toString('hex')).toBe('820100');
  });
});

describe('packet verifier policy', () => {
  it('accepts everything when no keys are configured', () => {
    const v = createPacketVerifier();
    expect(v.enforcing).toBe(false);
    expect(v.verify(resultPacket())).toEqual({ ok: true, signed: false });
  });

  it('with keys: unknown sender, unsigned and bad signatures are rejected with structured codes', () => {
    const good = keys();
    const bad = keys();
    const v = createPacketVerifier({ keys: { 'worker-1': good.publicKey } });
    expect(v.verify(signPacket(resultPacket(), good.privateKey))).toEqual({ ok: true, signed: true });
    expect(v.verify(resultPacket())).toMatchObject({ ok: false, code: ErrorCode.PROTOCOL_SIGNATURE_MISSING });
    expect(v.verify(signPacket(resultPacket(), bad.privateKey))).toMatchObject({
      ok: false,
      code: ErrorCode.PROTOCOL_SIGNATURE_INVALID,
    });
    const stranger = signPacket(resultPacket(), good.privateKey);
    stranger.senderId = 'worker-2';
    expect(v.verify(stranger)).toMatchObject({ ok: false, code: ErrorCode.PROTOCOL_SIGNATURE_INVALID });
  });
});
