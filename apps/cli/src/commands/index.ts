import type { RegisterGroup } from '../cli/host.js';
import { registerApproval } from './approval.js';
import { registerArtifact } from './artifact.js';
import { registerConfig } from './config.js';
import { registerContext } from './context.js';
import { registerDlq } from './dlq.js';
import { registerJob } from './job.js';
import { registerLock } from './lock.js';
import { registerPolicyTest } from './policy.js';
import { registerPolicyGateway } from './policy-gateway.js';
import { registerRun } from './run.js';
import { registerSchema } from './schema.js';
import { registerStatus, registerWorkers } from './status.js';
import { registerWorkflow } from './workflow.js';

/**
 * Every command group, in help order. A new group is one file under commands/ exporting a RegisterGroup,
 * plus one line here; groups that share a name (policy) find each other through groupCommand.
 */
export const COMMAND_GROUPS: readonly RegisterGroup[] = [
  registerStatus,
  registerWorkers,
  registerJob,
  registerApproval,
  registerDlq,
  registerWorkflow,
  registerRun,
  registerPolicyTest,
  registerPolicyGateway,
  registerConfig,
  registerSchema,
  registerLock,
  registerArtifact,
  registerContext,
];
