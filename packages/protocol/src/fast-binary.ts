import { type DescField, type DescMessage, type MessageShape, ScalarType, toBinary } from '@bufbuild/protobuf';
import { FeatureSet_FieldPresence } from '@bufbuild/protobuf/wkt';

// Binary encoding of a protobuf-es message in one pass over one buffer, for the submit path. toBinary walks
// the message through reflection and allocates a chunk per string and per nested message, which made it the
// largest single cost of POST /api/v1/jobs. This encoder reads the same descriptors once into a plan per
// message type, then writes fields in field-number order, strings straight into the buffer and nested
// lengths back-patched: the bytes are exactly toBinary's (a test compares them over varied messages).
// Proto3 scalars it does not know (fixed-width integers, zigzag, non-string map keys), proto2 required
// fields and groups make a message type fall back to toBinary.

const WIRE_VARINT = 0;
const WIRE_BIT64 = 1;
const WIRE_LEN = 2;
const WIRE_BIT32 = 5;
const FLOAT32_MAX = 3.4028234663852886e38;
const TWO_POW_53 = 2 ** 53;

type Kind = 'string' | 'bytes' | 'bool' | 'int32' | 'uint32' | 'int64' | 'float' | 'double';

type FieldPlan = {
  readonly name: string;
  readonly number: number;
  /** The oneof's property when the field is a member of one. */
  readonly oneof: string | undefined;
  /** Proto3 implicit presence: the zero value is not written. */
  readonly implicit: boolean;
  readonly shape: 'scalar' | 'message' | 'list' | 'map';
  readonly kind: Kind | undefined;
  readonly packed: boolean;
  readonly message: DescMessage | undefined;
  /** Map value: a scalar kind, or a message. */
  readonly mapValue: Kind | DescMessage | undefined;
};

type Plan = readonly FieldPlan[];

function kindOf(scalar: ScalarType | undefined): Kind | undefined {
  switch (scalar) {
    case ScalarType.STRING:
      return 'string';
    case ScalarType.BYTES:
      return 'bytes';
    case ScalarType.BOOL:
      return 'bool';
    case ScalarType.INT32:
      return 'int32';
    case ScalarType.UINT32:
      return 'uint32';
    case ScalarType.INT64:
    case ScalarType.UINT64:
      return 'int64';
    case ScalarType.FLOAT:
      return 'float';
    case ScalarType.DOUBLE:
      return 'double';
    default:
      return undefined;
  }
}

/** undefined when the field needs something this encoder does not do. */
function fieldPlan(f: DescField): FieldPlan | undefined {
  if (f.presence === FeatureSet_FieldPresence.LEGACY_REQUIRED) return undefined;
  const base = { name: f.localName, number: f.number, oneof: f.oneof?.localName, implicit: f.presence === FeatureSet_FieldPresence.IMPLICIT && f.oneof === undefined };
  const none = { kind: undefined, packed: false, message: undefined, mapValue: undefined };
  switch (f.fieldKind) {
    case 'scalar': {
      const kind = kindOf(f.scalar);
      return kind === undefined ? undefined : { ...base, ...none, shape: 'scalar', kind };
    }
    case 'enum':
      return { ...base, ...none, shape: 'scalar', kind: 'int32' };
    case 'message':
      return f.delimitedEncoding ? undefined : { ...base, ...none, shape: 'message', message: f.message };
    case 'list': {
      if (f.listKind === 'message') return f.delimitedEncoding ? undefined : { ...base, ...none, shape: 'list', message: f.message };
      const kind = f.listKind === 'enum' ? 'int32' : kindOf(f.scalar);
      return kind === undefined ? undefined : { ...base, ...none, shape: 'list', kind, packed: f.packed && kind !== 'string' && kind !== 'bytes' };
    }
    case 'map': {
      if (f.mapKey !== ScalarType.STRING) return undefined;
      const mapValue = f.mapKind === 'message' ? f.message : f.mapKind === 'enum' ? 'int32' : kindOf(f.scalar);
      return mapValue === undefined ? undefined : { ...base, ...none, shape: 'map', mapValue };
    }
  }
}

const plans = new Map<DescMessage, Plan | null>();

/** The plan of a message type and of every type it reaches, or null when any of them needs toBinary. */
function planOf(desc: DescMessage): Plan | null {
  const known = plans.get(desc);
  if (known !== undefined) return known;
  const fields: FieldPlan[] = [];
  plans.set(desc, fields); // a recursive type sees its own (still filling) plan
  let ok = true;
  for (const f of [...desc.fields].sort((a, b) => a.number - b.number)) {
    const p = fieldPlan(f);
    const nested = p?.message ?? (typeof p?.mapValue === 'object' ? p.mapValue : undefined);
    if (p === undefined || (nested !== undefined && planOf(nested) === null)) {
      ok = false;
      break;
    }
    fields.push(p);
  }
  if (!ok) plans.set(desc, null);
  return ok ? fields : null;
}

class Writer {
  buf = Buffer.allocUnsafeSlow(1024);
  pos = 0;

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** A non-negative integer below 2^53. */
  varint(value: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    while (value > 0x7f) {
      buf[pos++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    buf[pos++] = value;
    this.pos = pos;
  }

  /** Any 64-bit value, as two's complement when negative. */
  varint64(value: bigint): void {
    let v = BigInt.asUintN(64, value);
    if (v < BigInt(TWO_POW_53)) {
      this.varint(Number(v));
      return;
    }
    this.ensure(10);
    while (v > 0x7fn) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  tag(number: number, wire: number): void {
    this.varint(number * 8 + wire);
  }

  /** Reserves one byte for a length; endLength writes it (moving the bytes when it needs more). */
  startLength(): number {
    this.ensure(1);
    return this.pos++;
  }

  endLength(slot: number): void {
    const length = this.pos - slot - 1;
    if (length < 0x80) {
      this.buf[slot] = length;
      return;
    }
    let extra = 0;
    for (let v = length; v > 0x7f; v = Math.floor(v / 0x80)) extra++;
    this.ensure(extra);
    this.buf.copyWithin(slot + 1 + extra, slot + 1, this.pos);
    this.pos += extra;
    let v = length;
    let at = slot;
    while (v > 0x7f) {
      this.buf[at++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[at] = v;
  }

  string(text: string): void {
    const slot = this.startLength();
    this.ensure(text.length * 3);
    this.pos += this.buf.write(text, this.pos, 'utf8');
    this.endLength(slot);
  }

  bytes(value: Uint8Array): void {
    this.varint(value.byteLength);
    this.ensure(value.byteLength);
    this.buf.set(value, this.pos);
    this.pos += value.byteLength;
  }
}

function isZero(kind: Kind, value: unknown): boolean {
  switch (kind) {
    case 'string':
      return value === '';
    case 'bytes':
      return (value as Uint8Array).byteLength === 0;
    case 'bool':
      return value !== true;
    case 'int32':
    case 'uint32':
      return value === 0;
    case 'int64':
      return typeof value === 'bigint' ? value === 0n : BigInt(value as string | number) === 0n;
    case 'float':
    case 'double':
      // As protobuf-es: -0 is not the zero value, so it is written.
      return Object.is(value, 0);
  }
}

/** A value without its tag (the tag's wire type follows from the kind). */
function writeValue(w: Writer, kind: Kind, value: unknown): void {
  switch (kind) {
    case 'string':
      w.string(value as string);
      return;
    case 'bytes':
      w.bytes(value as Uint8Array);
      return;
    case 'bool':
      w.varint(value === true ? 1 : 0);
      return;
    case 'int32':
      if ((value as number) >= 0) w.varint(value as number);
      else w.varint64(BigInt(value as number));
      return;
    case 'uint32':
      w.varint(value as number);
      return;
    case 'int64':
      w.varint64(typeof value === 'bigint' ? value : BigInt(value as string | number));
      return;
    case 'float': {
      const v = value as number;
      // protobuf-es refuses a finite number outside float32's range.
      if (typeof v !== 'number' || (Number.isFinite(v) && (v > FLOAT32_MAX || v < -FLOAT32_MAX))) throw new Error(`invalid float32: ${String(v)}`);
      w.ensure(4);
      w.pos = w.buf.writeFloatLE(v, w.pos);
      return;
    }
    case 'double':
      w.ensure(8);
      w.pos = w.buf.writeDoubleLE(value as number, w.pos);
  }
}

function wireOf(kind: Kind): number {
  switch (kind) {
    case 'string':
    case 'bytes':
      return WIRE_LEN;
    case 'float':
      return WIRE_BIT32;
    case 'double':
      return WIRE_BIT64;
    default:
      return WIRE_VARINT;
  }
}

function writeMessage(w: Writer, plan: Plan, message: Record<string, unknown>): void {
  for (const f of plan) {
    let value: unknown;
    if (f.oneof !== undefined) {
      const o = message[f.oneof] as { case: string | undefined; value?: unknown };
      if (o.case !== f.name) continue;
      value = o.value;
    } else {
      value = message[f.name];
      if (value === undefined) continue;
    }
    switch (f.shape) {
      case 'scalar': {
        const kind = f.kind as Kind;
        if (f.implicit && isZero(kind, value)) continue;
        if (!f.implicit && f.oneof === undefined && !Object.prototype.hasOwnProperty.call(message, f.name)) continue;
        w.tag(f.number, wireOf(kind));
        writeValue(w, kind, value);
        break;
      }
      case 'message':
        w.tag(f.number, WIRE_LEN);
        writeNested(w, f.message as DescMessage, value as Record<string, unknown>);
        break;
      case 'list': {
        const list = value as readonly unknown[];
        if (list.length === 0) continue;
        if (f.message !== undefined) {
          for (const item of list) {
            w.tag(f.number, WIRE_LEN);
            writeNested(w, f.message, item as Record<string, unknown>);
          }
        } else if (f.packed) {
          w.tag(f.number, WIRE_LEN);
          const slot = w.startLength();
          for (const item of list) writeValue(w, f.kind as Kind, item);
          w.endLength(slot);
        } else {
          for (const item of list) {
            w.tag(f.number, wireOf(f.kind as Kind));
            writeValue(w, f.kind as Kind, item);
          }
        }
        break;
      }
      case 'map':
        for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
          w.tag(f.number, WIRE_LEN);
          const slot = w.startLength();
          w.tag(1, WIRE_LEN);
          w.string(key);
          if (typeof f.mapValue === 'object') {
            w.tag(2, WIRE_LEN);
            writeNested(w, f.mapValue, item as Record<string, unknown>);
          } else {
            const kind = f.mapValue as Kind;
            w.tag(2, wireOf(kind));
            writeValue(w, kind, item);
          }
          w.endLength(slot);
        }
        break;
    }
  }
  const unknown = message['$unknown'] as readonly { no: number; wireType: number; data: Uint8Array }[] | undefined;
  if (unknown !== undefined) {
    for (const u of unknown) {
      w.tag(u.no, u.wireType);
      w.ensure(u.data.byteLength);
      w.buf.set(u.data, w.pos);
      w.pos += u.data.byteLength;
    }
  }
}

function writeNested(w: Writer, desc: DescMessage, message: Record<string, unknown>): void {
  const plan = planOf(desc);
  if (plan === null) {
    // Only reachable through a recursive type that turned out to need toBinary after its parent was planned.
    w.bytes(toBinary(desc, message as unknown as MessageShape<DescMessage>));
    return;
  }
  const slot = w.startLength();
  writeMessage(w, plan, message);
  w.endLength(slot);
}

const scratch = new Writer();

/** Whether encodeBinary writes messages of this type itself (false: it falls back to toBinary). */
export function encodesInOnePass(desc: DescMessage): boolean {
  return planOf(desc) !== null;
}

/** toBinary(schema, message), faster. */
export function encodeBinary<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Uint8Array {
  const plan = planOf(schema);
  if (plan === null) return toBinary(schema, message);
  scratch.pos = 0;
  writeMessage(scratch, plan, message);
  return new Uint8Array(scratch.buf.subarray(0, scratch.pos));
}
