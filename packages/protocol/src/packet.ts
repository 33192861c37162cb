import { create, fromBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { type BusPacket, BusPacketSchema } from './gen/cordum/agent/v1/buspacket_pb.js';
import { ErrorCode } from './gen/cordum/agent/v1/job_pb.js';
import { encodeBinary } from './fast-binary.js';

export const PROTOCOL_VERSION = 1;

/** Largest packet we accept from the bus; payloads travel as pointers, so anything near this is abuse. */
export const MAX_PACKET_BYTES = 1024 * 1024;

export type PacketPayload = BusPacket['payload'];
export type PayloadCase = NonNullable<PacketPayload['case']>;

export type PacketInit = {
  traceId: string;
  senderId: string;
  payload: NonNullable<MessageInitShape<typeof BusPacketSchema>['payload']>;
  createdAt?: Date;
  authToken?: string;
};

/** A new protocol-version-1 packet stamped with the creation time (millisecond precision). */
export function newPacket(init: PacketInit): BusPacket {
  return create(BusPacketSchema, {
    traceId: init.traceId,
    senderId: init.senderId,
    createdAt: timestampFromMs((init.createdAt ?? new Date()).getTime()),
    protocolVersion: PROTOCOL_VERSION,
    payload: init.payload,
    authToken: init.authToken ?? '',
  });
}

/** The packet's bytes: exactly toBinary's (a test checks every payload), written in one pass. */
export function encodePacket(packet: BusPacket): Uint8Array {
  return encodeBinary(BusPacketSchema, packet);
}

/** A packet that cannot be accepted, with the structured code a reject carries. */
export class PacketError extends Error {
  override readonly name = 'PacketError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Decodes bytes into a packet; unknown fields are kept (forward compatibility). Throws PacketError. */
export function decodePacket(bytes: Uint8Array): BusPacket {
  if (bytes.byteLength > MAX_PACKET_BYTES) {
    throw new PacketError(
      ErrorCode.PROTOCOL_MALFORMED_PACKET,
      `packet of ${bytes.byteLength} bytes exceeds ${MAX_PACKET_BYTES}`,
    );
  }
  try {
    return fromBinary(BusPacketSchema, bytes);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new PacketError(ErrorCode.PROTOCOL_MALFORMED_PACKET, `malformed packet: ${why}`);
  }
}

export type PacketCheck = { ok: true } | { ok: false; code: ErrorCode; reason: string };

export type ValidateOptions = {
  /** Payload cases this consumer executes; others are rejected as PROTOCOL_UNKNOWN_PAYLOAD. */
  expect?: readonly PayloadCase[];
  /** Require sender_id to equal the worker or component id inside results, heartbeats and handshakes. */
  requireSenderMatch?: boolean;
};

/**
 * Checks what every consumer must check before acting on a packet: the protocol version, a known payload
 * (an unknown oneof member reads as no payload and must not be executed), and optionally the payload kind
 * and the sender's identity.
 */
export function validatePacket(packet: BusPacket, options: ValidateOptions = {}): PacketCheck {
  if (packet.protocolVersion !== PROTOCOL_VERSION) {
    return {
      ok: false,
      code: ErrorCode.PROTOCOL_VERSION_MISMATCH,
      reason: `protocol_version ${packet.protocolVersion} is not ${PROTOCOL_VERSION}`,
    };
  }
  const kind = packet.payload.case;
  if (kind === undefined) {
    return { ok: false, code: ErrorCode.PROTOCOL_UNKNOWN_PAYLOAD, reason: 'packet has no payload this peer knows' };
  }
  if (options.expect !== undefined && !options.expect.includes(kind)) {
    return {
      ok: false,
      code: ErrorCode.PROTOCOL_UNKNOWN_PAYLOAD,
      reason: `payload ${kind} is not one of ${options.expect.join(', ')}`,
    };
  }
  if (options.requireSenderMatch === true) {
    const claimed = identityOf(packet.payload);
    if (claimed !== undefined && claimed !== packet.senderId) {
      return {
        ok: false,
        code: ErrorCode.PROTOCOL_MALFORMED_PACKET,
        reason: `sender_id ${JSON.stringify(packet.senderId)} does not match payload identity ${JSON.stringify(claimed)}`,
      };
    }
  }
  return { ok: true };
}

function identityOf(payload: PacketPayload): string | undefined {
  switch (payload.case) {
    case 'jobResult':
      return payload.value.workerId;
    case 'heartbeat':
      return payload.value.workerId;
    case 'handshake':
      return payload.value.componentId;
    case 'jobRequest':
    case 'alert':
    case 'jobProgress':
    case 'jobCancel':
    case 'workerHandshakeChallengeRequest':
    case 'workerHandshakeChallenge':
    case 'workerHandshakeAuthenticate':
    case 'workerHandshakeResult':
    case undefined:
      return undefined;
  }
}
