// @cordum/core: shared building blocks. Depends on @cordum/protocol only.
export {
  type CordumErrorOptions,
  CordumError,
  ConflictError,
  DeniedError,
  ERROR_CATALOGUE,
  type ErrorCodeName,
  type ErrorDetails,
  type ErrorKind,
  InvalidError,
  NotFoundError,
  RetryableError,
  TerminalError,
  isCordumError,
  isRetryable,
  toError,
} from './errors.js';
export { type Clock, type ManualClock, createManualClock, systemClock } from './clock.js';
export { idTimestamp, isSafeId, isSafeTenantId, newId, newTraceId } from './ids.js';
export { type BackoffOptions, backoffDelay } from './backoff.js';
export {
  type JsonPrimitive,
  type JsonValue,
  canonicalJson,
  deepFreeze,
  hashJson,
  isPlainObject,
  sha256Hex,
} from './canonical-json.js';
export { hasUnsafeKeys, jsonMergePatch } from './json-merge.js';
export {
  CONFIG_SCOPES,
  type ConfigLayer,
  type ConfigScope,
  type EffectiveConfig,
  isConfigScope,
  mergeEffectiveConfig,
} from './effective-config.js';
export {
  type ConfigField,
  type ConfigOf,
  type ConfigProblem,
  type ConfigRow,
  type ConfigSpec,
  type EnvSource,
  describeConfig,
  env,
  formatDuration,
  loadConfig,
  parseDuration,
} from './config-loader.js';
export {
  type LogContext,
  type LogFields,
  type LogFn,
  type LogLevel,
  type LogRecord,
  type Logger,
  type LoggerOptions,
  contextFields,
  createLogger,
  createMemoryLogger,
  createSilentLogger,
  withContext,
} from './logger.js';
export {
  type Counter,
  type Gauge,
  type Histogram,
  LATENCY_BUCKETS,
  type Metrics,
  type MetricsOptions,
  type Registry,
  createMetrics,
} from './metrics.js';
export {
  type OutputPolicyPoint,
  type PdpCallOptions,
  type PolicyDecisionPoint,
  type StaticPdp,
  type StaticPdpOptions,
  type StaticRule,
  createAllowAllOutputPolicy,
  createStaticPdp,
} from './pdp.js';
export {
  type RedactOptions,
  SCAN_FINDING_TYPES,
  type ScanFinding,
  type ScanFindingType,
  type ScanOptions,
  type SecretRef,
  findSecretRefs,
  hasSecretRefs,
  luhnValid,
  redactText,
  scanText,
} from './redaction.js';
export {
  DEFAULT_RECONCILER,
  type PoolsConfig,
  type TimeoutsConfig,
  type TopicTimeouts,
  parsePoolsConfig,
  parseTimeoutsConfig,
  poolsForTopic,
  timeoutsForTopic,
} from './routing-config.js';
export { type Closers, type RunningService, createClosers, runServiceMain } from './service-main.js';
export { type MetricsServer, startMetricsServer } from './metrics-server.js';
