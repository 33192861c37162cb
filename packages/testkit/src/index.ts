// @cordum/testkit (private): real servers for integration tests and one contract suite per port.
export {
  type NatsServer,
  type RedisServer,
  findBinary,
  freePort,
  startNats,
  startRedis,
} from './servers.js';
export { type TcpProxy, startTcpProxy } from './proxy.js';
export { type NodeProcess, REPO_ROOT, type StartNodeOptions, startNodeProcess } from './process.js';
export {
  type PortFactory,
  type PortFixture,
  memoryFactory,
  redisFactory,
  uniquePrefix,
} from './contracts/fixture.js';
export { runJobStoreContract } from './contracts/job-store.js';
export { runPointerStoreContract } from './contracts/pointer-store.js';
export { runConfigStoreContract } from './contracts/config-store.js';
export { runLockStoreContract } from './contracts/lock-store.js';
export { runArtifactStoreContract } from './contracts/artifact-store.js';
export { runDlqStoreContract } from './contracts/dlq-store.js';
export { runIdempotencyStoreContract } from './contracts/idempotency-store.js';
export { runSchemaStoreContract } from './contracts/schema-store.js';
export { runAuditLogContract } from './contracts/audit-log.js';
export { runWorkflowStoreContract } from './contracts/workflow-store.js';
export { RUN_STORE_CONTRACT_OPTIONS, runRunStoreContract } from './contracts/run-store.js';
export { type BusFactory, type BusFixture, eventually, runBusContract } from './contracts/bus.js';
