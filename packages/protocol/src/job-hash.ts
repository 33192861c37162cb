import { createHash } from 'node:crypto';
import { clone } from '@bufbuild/protobuf';
import { canonicalEncode } from './canonical.js';
import { type JobRequest, JobRequestSchema } from './gen/cordum/agent/v1/job_pb.js';

// The hash an approval is bound to: what the job asks (the request, canonically encoded) and what it will
// read (the bytes behind its write-once context pointer). Fields the control plane itself adds when it
// dispatches (CORDUM_* env, approval/cordum.* labels) are left out, so dispatching does not change it.

const CONTROL_ENV = /^CORDUM_/;
const CONTROL_LABEL = /^(approval_|cordum\.)/;

export function computeJobHash(request: JobRequest, context: Uint8Array): string {
  const copy = clone(JobRequestSchema, request);
  for (const key of Object.keys(copy.env)) if (CONTROL_ENV.test(key)) delete copy.env[key];
  for (const key of Object.keys(copy.labels)) if (CONTROL_LABEL.test(key)) delete copy.labels[key];
  const contextHash = createHash('sha256').update(context).digest();
  return createHash('sha256').update(canonicalEncode(JobRequestSchema, copy)).update(contextHash).digest('hex');
}
