import { KeyObject, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { clone, equals, fromBinary } from '@bufbuild/protobuf';
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { canonicalEncode } from './canonical.js';
import { type BusPacket, BusPacketSchema } from './gen/cordum/agent/v1/buspacket_pb.js';
import { ErrorCode } from './gen/cordum/agent/v1/job_pb.js';

// Packet signatures: ECDSA P-256 over SHA-256, ASN.1 DER in BusPacket.signature (field 14), computed over
// the canonical encoding of the packet with the signature cleared.

const SIGNATURE_FIELD = 14;

export type KeyInput = KeyObject | string | Buffer;

function privateKeyOf(key: KeyInput): KeyObject {
  const k = key instanceof KeyObject ? key : createPrivateKey(key);
  assertP256(k, 'private');
  return k;
}

function publicKeyOf(key: KeyInput): KeyObject {
  const k = key instanceof KeyObject && key.type === 'public' ? key : createPublicKey(key);
  assertP256(k, 'public');
  return k;
}

function assertP256(key: KeyObject, kind: 'private' | 'public'): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new TypeError(`packet signing needs an EC P-256 ${kind} key`);
  }
}

/** The bytes a signature covers: the canonical encoding with the signature field cleared. */
export function signingBytes(packet: BusPacket): Uint8Array {
  const unsigned = clone(BusPacketSchema, packet);
  unsigned.signature = new Uint8Array(0);
  return canonicalEncode(BusPacketSchema, unsigned);
}

/** Returns a copy of the packet carrying a DER ECDSA P-256/SHA-256 signature. */
export function signPacket(packet: BusPacket, privateKey: KeyInput): BusPacket {
  const signed = clone(BusPacketSchema, packet);
  signed.signature = new Uint8Array(0);
  const bytes = canonicalEncode(BusPacketSchema, signed);
  signed.signature = sign('sha256', bytes, { key: privateKeyOf(privateKey), dsaEncoding: 'der' });
  return signed;
}

/**
 * Verifies a packet's signature. With `raw` (the bytes as received) it also accepts a signature over those
 * exact bytes minus field 14, which covers senders whose encoder is not canonical but who signed what
 * they sent — but only when `raw` decodes to this very packet, so a signature over some other bytes can
 * never vouch for a packet that was changed after decoding.
 */
export function verifyPacketSignature(packet: BusPacket, publicKey: KeyInput, raw?: Uint8Array): boolean {
  if (packet.signature.byteLength === 0) return false;
  const key = publicKeyOf(publicKey);
  const check = (bytes: Uint8Array): boolean => {
    try {
      return verify('sha256', bytes, { key, dsaEncoding: 'der' }, packet.signature);
    } catch {
      return false;
    }
  };
  if (check(signingBytes(packet))) return true;
  if (raw !== undefined && decodesTo(raw, packet)) {
    const stripped = stripTopLevelField(raw, SIGNATURE_FIELD);
    if (stripped !== undefined && check(stripped)) return true;
  }
  return false;
}

function decodesTo(raw: Uint8Array, packet: BusPacket): boolean {
  try {
    return equals(BusPacketSchema, fromBinary(BusPacketSchema, raw), packet);
  } catch {
    return false;
  }
}

function stripTopLevelField(bytes: Uint8Array, fieldNo: number): Uint8Array | undefined {
  try {
    const reader = new BinaryReader(bytes);
    const writer = new BinaryWriter();
    while (reader.pos < reader.len) {
      const start = reader.pos;
      const [no, wireType] = reader.tag();
      reader.skip(wireType, no);
      if (no !== fieldNo) writer.raw(bytes.subarray(start, reader.pos));
    }
    return writer.finish();
  } catch {
    return undefined;
  }
}

export type VerifyOutcome = { ok: true; signed: boolean } | { ok: false; code: ErrorCode; reason: string };

export type PacketVerifierOptions = {
  /** Public keys by sender_id. With no keys every packet is accepted, signed or not (CAP v2 rule). */
  keys?: Readonly<Record<string, KeyInput>>;
};

export type PacketVerifier = {
  readonly enforcing: boolean;
  verify(packet: BusPacket, raw?: Uint8Array): VerifyOutcome;
};

/**
 * CAP v2 verifier policy: once a key map is configured, packets from unknown senders, unsigned packets and
 * packets that fail verification are all rejected.
 */
export function createPacketVerifier(options: PacketVerifierOptions = {}): PacketVerifier {
  const keys = new Map<string, KeyObject>();
  for (const [sender, key] of Object.entries(options.keys ?? {})) keys.set(sender, publicKeyOf(key));
  const enforcing = keys.size > 0;
  return {
    enforcing,
    verify(packet, raw) {
      if (!enforcing) return { ok: true, signed: packet.signature.byteLength > 0 };
      const key = keys.get(packet.senderId);
      if (key === undefined) {
        return {
          ok: false,
          code: ErrorCode.PROTOCOL_SIGNATURE_INVALID,
          reason: `no public key for sender ${JSON.stringify(packet.senderId)}`,
        };
      }
      if (packet.signature.byteLength === 0) {
        return { ok: false, code: ErrorCode.PROTOCOL_SIGNATURE_MISSING, reason: 'packet is not signed' };
      }
      if (!verifyPacketSignature(packet, key, raw)) {
        return { ok: false, code: ErrorCode.PROTOCOL_SIGNATURE_INVALID, reason: 'signature does not verify' };
      }
      return { ok: true, signed: true };
    },
  };
}
