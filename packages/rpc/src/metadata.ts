import { Metadata } from '@grpc/grpc-js';

// gRPC requires binary values on keys ending in -bin and text elsewhere. Our surface is string-only, so
// binary values travel as base64 in both directions.
const isBinaryKey = (key: string): boolean => key.endsWith('-bin');

/** The first value of every key (keys are lower-case on the wire). */
export function metadataToRecord(md: Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(md.getMap())) {
    out[key] = typeof value === 'string' ? value : value.toString('base64');
  }
  return out;
}

export function recordToMetadata(...records: (Record<string, string> | undefined)[]): Metadata {
  const md = new Metadata();
  for (const record of records) {
    if (record === undefined) continue;
    for (const [key, value] of Object.entries(record)) {
      const k = key.toLowerCase();
      md.set(k, isBinaryKey(k) ? Buffer.from(value, 'base64') : value);
    }
  }
  return md;
}
