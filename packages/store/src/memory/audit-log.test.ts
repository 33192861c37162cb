import { memoryFactory, runAuditLogContract } from '@cordum/testkit';
import { createMemoryAuditLog } from './audit-log.js';

runAuditLogContract('memory', memoryFactory((ctx) => createMemoryAuditLog(ctx)));
