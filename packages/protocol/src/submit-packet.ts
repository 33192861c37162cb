import { BusPacketSchema } from './gen/cordum/agent/v1/buspacket_pb.js';
import { PROTOCOL_VERSION } from './packet.js';

// The sys.job.submit packet around a JobRequest that is already encoded. A submit encodes its JobRequest
// once: the same bytes become the record's data.request (base64) and the packet's job_request field, instead
// of a second reflective encoding of the same message inside the packet. The packet's own fields are few and
// fixed, so they are written here directly, in field-number order: the bytes are exactly what
// encodePacket(newPacket({traceId, senderId, payload: {case: 'jobRequest', value}})) gives (a test compares
// them). Field numbers come from the schema, not from literals.

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const F = BusPacketSchema.field;
const TAG_TRACE_ID = (F.traceId.number << 3) | WIRE_LEN;
const TAG_SENDER_ID = (F.senderId.number << 3) | WIRE_LEN;
const TAG_CREATED_AT = (F.createdAt.number << 3) | WIRE_LEN;
const TAG_PROTOCOL_VERSION = (F.protocolVersion.number << 3) | WIRE_VARINT;
const TAG_JOB_REQUEST = (F.jobRequest.number << 3) | WIRE_LEN;
const TS = F.createdAt.message?.field;
if (TS?.['seconds'] === undefined || TS['nanos'] === undefined) throw new Error('BusPacket.created_at is not a google.protobuf.Timestamp');
const TAG_SECONDS = (TS['seconds'].number << 3) | WIRE_VARINT;
const TAG_NANOS = (TS['nanos'].number << 3) | WIRE_VARINT;

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

function writeVarint(out: Buffer, pos: number, value: number): number {
  while (value >= 0x80) {
    out[pos++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[pos++] = value;
  return pos;
}

/** A string field (skipped when empty, as proto3 does); returns the new position. */
function writeString(out: Buffer, pos: number, tag: number, text: string, byteLength: number): number {
  if (byteLength === 0) return pos;
  pos = writeVarint(out, pos, tag);
  pos = writeVarint(out, pos, byteLength);
  return pos + out.write(text, pos, 'utf8');
}

const fieldSize = (tag: number, byteLength: number): number => (byteLength === 0 ? 0 : varintSize(tag) + varintSize(byteLength) + byteLength);

/**
 * The bytes of a protocol-version packet carrying an encoded JobRequest, created at `createdAtMs` (whole ms,
 * non-negative, like newPacket's Date).
 */
export function encodeJobRequestPacket(init: { traceId: string; senderId: string; createdAtMs: number; request: Uint8Array }): Uint8Array {
  const traceLength = Buffer.byteLength(init.traceId, 'utf8');
  const senderLength = Buffer.byteLength(init.senderId, 'utf8');
  const seconds = Math.floor(init.createdAtMs / 1000);
  const nanos = (init.createdAtMs - seconds * 1000) * 1_000_000;
  const tsLength = (seconds === 0 ? 0 : varintSize(TAG_SECONDS) + varintSize(seconds)) + (nanos === 0 ? 0 : varintSize(TAG_NANOS) + varintSize(nanos));
  const size =
    fieldSize(TAG_TRACE_ID, traceLength) +
    fieldSize(TAG_SENDER_ID, senderLength) +
    varintSize(TAG_CREATED_AT) +
    varintSize(tsLength) +
    tsLength +
    varintSize(TAG_PROTOCOL_VERSION) +
    varintSize(PROTOCOL_VERSION) +
    varintSize(TAG_JOB_REQUEST) +
    varintSize(init.request.byteLength) +
    init.request.byteLength;
  const out = Buffer.allocUnsafeSlow(size);
  let pos = writeString(out, 0, TAG_TRACE_ID, init.traceId, traceLength);
  pos = writeString(out, pos, TAG_SENDER_ID, init.senderId, senderLength);
  pos = writeVarint(out, pos, TAG_CREATED_AT);
  pos = writeVarint(out, pos, tsLength);
  if (seconds !== 0) pos = writeVarint(out, writeVarint(out, pos, TAG_SECONDS), seconds);
  if (nanos !== 0) pos = writeVarint(out, writeVarint(out, pos, TAG_NANOS), nanos);
  pos = writeVarint(out, writeVarint(out, pos, TAG_PROTOCOL_VERSION), PROTOCOL_VERSION);
  pos = writeVarint(out, pos, TAG_JOB_REQUEST);
  pos = writeVarint(out, pos, init.request.byteLength);
  out.set(init.request, pos);
  if (pos + init.request.byteLength !== size) throw new Error('submit packet size mismatch');
  return new Uint8Array(out.buffer, out.byteOffset, size);
}
