import { ScalarType, type DescField, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { type ReflectMessage, reflect } from '@bufbuild/protobuf/reflect';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

// Deterministic protobuf encoding for signatures (CAP v2 canonical rule): fields in ascending tag order,
// proto3 defaults omitted, map entries sorted by key. Unknown fields are kept and placed by their tag,
// so a packet from a newer peer re-encodes to the bytes that peer signed. A set sub-message is written
// even when empty: its presence is meaningful (an empty oneof member is not "no payload").

type Chunk = { no: number; bytes: Uint8Array };

export function canonicalEncode<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Uint8Array {
  return encodeMessage(reflect(schema, message));
}

function encodeMessage(msg: ReflectMessage): Uint8Array {
  const chunks: Chunk[] = [];
  for (const field of msg.sortedFields) {
    if (!msg.isSet(field)) continue;
    chunks.push({ no: field.number, bytes: encodeField(msg, field) });
  }
  for (const unknown of msg.getUnknown() ?? []) {
    const w = new BinaryWriter();
    w.tag(unknown.no, unknown.wireType).raw(unknown.data);
    chunks.push({ no: unknown.no, bytes: w.finish() });
  }
  // Array.prototype.sort is stable, so repeated unknown occurrences keep their order.
  chunks.sort((a, b) => a.no - b.no);
  return concat(chunks.map((c) => c.bytes));
}

function encodeField(msg: ReflectMessage, field: DescField): Uint8Array {
  const w = new BinaryWriter();
  switch (field.fieldKind) {
    case 'scalar':
      writeScalar(w, field.number, field.scalar, msg.get(field));
      break;
    case 'enum':
      writeScalar(w, field.number, ScalarType.INT32, msg.get(field));
      break;
    case 'message':
      rejectGroups(field);
      w.tag(field.number, WireType.LengthDelimited).bytes(encodeMessage(msg.get(field)));
      break;
    case 'list': {
      const list = msg.get(field);
      if (field.listKind === 'message') {
        rejectGroups(field);
        for (const item of list) {
          w.tag(field.number, WireType.LengthDelimited).bytes(encodeMessage(item as ReflectMessage));
        }
        break;
      }
      const scalar = field.listKind === 'enum' ? ScalarType.INT32 : field.scalar;
      if (field.packed) {
        w.tag(field.number, WireType.LengthDelimited).fork();
        for (const item of list) writeScalarValue(w, scalar, item);
        w.join();
      } else {
        for (const item of list) writeScalar(w, field.number, scalar, item);
      }
      break;
    }
    case 'map': {
      const entries = [...msg.get(field)].sort(([a], [b]) => compareMapKeys(a, b));
      for (const [key, value] of entries) {
        w.tag(field.number, WireType.LengthDelimited).fork();
        writeScalar(w, 1, field.mapKey, key);
        switch (field.mapKind) {
          case 'scalar':
            writeScalar(w, 2, field.scalar, value);
            break;
          case 'enum':
            writeScalar(w, 2, ScalarType.INT32, value);
            break;
          case 'message':
            w.tag(2, WireType.LengthDelimited).bytes(encodeMessage(value as ReflectMessage));
            break;
        }
        w.join();
      }
      break;
    }
  }
  return w.finish();
}

function rejectGroups(field: DescField): void {
  if ('delimitedEncoding' in field && field.delimitedEncoding === true) {
    throw new TypeError(`canonical encoding does not support group field ${field.name}`);
  }
}

const utf8 = new TextEncoder();

function compareMapKeys(a: unknown, b: unknown): number {
  if (typeof a === 'string' && typeof b === 'string') return Buffer.compare(utf8.encode(a), utf8.encode(b));
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  const x = BigInt(a as number | bigint | string);
  const y = BigInt(b as number | bigint | string);
  return x < y ? -1 : x > y ? 1 : 0;
}

function writeScalar(w: BinaryWriter, no: number, type: ScalarType, value: unknown): void {
  w.tag(no, wireTypeOf(type));
  writeScalarValue(w, type, value);
}

function wireTypeOf(type: ScalarType): WireType {
  switch (type) {
    case ScalarType.BYTES:
    case ScalarType.STRING:
      return WireType.LengthDelimited;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
    case ScalarType.FLOAT:
      return WireType.Bit32;
    case ScalarType.INT32:
    case ScalarType.INT64:
    case ScalarType.UINT32:
    case ScalarType.UINT64:
    case ScalarType.SINT32:
    case ScalarType.SINT64:
    case ScalarType.BOOL:
      return WireType.Varint;
  }
}

type Long = bigint | string | number;

function writeScalarValue(w: BinaryWriter, type: ScalarType, value: unknown): void {
  switch (type) {
    case ScalarType.STRING:
      w.string(value as string);
      return;
    case ScalarType.BYTES:
      w.bytes(value as Uint8Array);
      return;
    case ScalarType.BOOL:
      w.bool(value as boolean);
      return;
    case ScalarType.DOUBLE:
      w.double(value as number);
      return;
    case ScalarType.FLOAT:
      w.float(value as number);
      return;
    case ScalarType.INT32:
      w.int32(value as number);
      return;
    case ScalarType.UINT32:
      w.uint32(value as number);
      return;
    case ScalarType.SINT32:
      w.sint32(value as number);
      return;
    case ScalarType.FIXED32:
      w.fixed32(value as number);
      return;
    case ScalarType.SFIXED32:
      w.sfixed32(value as number);
      return;
    case ScalarType.INT64:
      w.int64(value as Long);
      return;
    case ScalarType.UINT64:
      w.uint64(value as Long);
      return;
    case ScalarType.SINT64:
      w.sint64(value as Long);
      return;
    case ScalarType.FIXED64:
      w.fixed64(value as Long);
      return;
    case ScalarType.SFIXED64:
      w.sfixed64(value as Long);
      return;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.byteLength;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}
