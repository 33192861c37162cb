import { create, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { encodeBinary, encodesInOnePass } from './fast-binary.js';
import { JobRequestSchema } from './gen/cordum/agent/v1/job_pb.js';
import { BusPacketSchema } from './gen/cordum/agent/v1/buspacket_pb.js';
import { HeartbeatSchema } from './gen/cordum/agent/v1/heartbeat_pb.js';

// encodeBinary must give exactly toBinary's bytes; the submit path's messages are covered by the gateway's
// submit-encoding test and every packet payload by roundtrip.test.ts. Here: the float and double fields.

describe('encodeBinary floats', () => {
  it('writes every bus packet type itself, without falling back to toBinary', () => {
    for (const schema of [HeartbeatSchema, JobRequestSchema, BusPacketSchema]) expect(encodesInOnePass(schema), schema.typeName).toBe(true);
  });

  it('writes float fields as protobuf-es does: -0, NaN, infinities and fractions; 0 left out', () => {
    for (const cpuLoad of [0, -0, 0.5, -1.25, 3.4e38, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-45]) {
      const hb = create(HeartbeatSchema, { workerId: 'w', cpuLoad, memoryLoad: 12.5, gpuUtilization: 0 });
      expect(encodeBinary(HeartbeatSchema, hb), `cpu_load ${cpuLoad}`).toEqual(toBinary(HeartbeatSchema, hb));
      const packet = create(BusPacketSchema, { traceId: 't', payload: { case: 'heartbeat', value: hb } });
      expect(encodeBinary(BusPacketSchema, packet)).toEqual(toBinary(BusPacketSchema, packet));
    }
  });

  it('refuses a float outside float32 range as protobuf-es does', () => {
    const hb = create(HeartbeatSchema, { workerId: 'w', cpuLoad: 1e39 });
    expect(() => toBinary(HeartbeatSchema, hb)).toThrow(/invalid float32/);
    expect(() => encodeBinary(HeartbeatSchema, hb)).toThrow(/invalid float32/);
  });
});
