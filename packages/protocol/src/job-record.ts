import { create, fromBinary } from '@bufbuild/protobuf';
import { encodeBinary } from './fast-binary.js';
import { type JobRequest, JobRequestSchema } from './gen/cordum/agent/v1/job_pb.js';

// How a job's JobRequest is kept in its JobStore record (`data.request`): the protobuf bytes in base64. The
// gateway writes it when it records a job before publishing the submit; the scheduler writes it for raw CAP
// submits and reads it back at every step. Other keys of the record's data (one contract, two services):
//   data.approval   {by, reason, job_hash, policy_snapshot, at, expires_at?} — written only by the gateway,
//                   in the compare-and-set that moves APPROVAL_REQUIRED → PENDING
//   data.decision   {decision, rule_id, reason, snapshot, constraints, redacted_context_ptr, checked_at}
//   data.job_hash   the hash an approval must match (computeJobHash), set when approval is required

/** The record form of a JobRequest (`data.request`). */
export function encodeStoredRequest(request: JobRequest): string {
  return storedRequestOf(encodeBinary(JobRequestSchema, request));
}

/** The record form of a JobRequest already encoded (encodeBinary(JobRequestSchema, request)). */
export function storedRequestOf(encoded: Uint8Array): string {
  return Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength).toString('base64');
}

/** The JobRequest of a record's `data.request`, or undefined when there is none (or it is not a string). */
export function decodeStoredRequest(raw: unknown): JobRequest | undefined {
  if (typeof raw !== 'string') return undefined;
  return fromBinary(JobRequestSchema, Buffer.from(raw, 'base64'));
}

/** A JobRequest with only the given fields set (for records written without one). */
export function minimalRequest(fields: { jobId: string; topic: string; tenantId: string; labels: Record<string, string> }): JobRequest {
  return create(JobRequestSchema, fields);
}
