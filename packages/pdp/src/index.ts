// @cordum/pdp: the policy decision point as the rest of the system uses it. One policy runtime (sources,
// signatures, snapshots, hot reload, pack topic enrichment) shared by the safety kernel and by embedded
// decision points, and gRPC adapters with deadlines and circuit breakers for processes that ask the kernel.
export {
  CIRCUIT_BREAKER_DEFAULTS,
  type CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitPermit,
  type CircuitState,
  type CircuitTicket,
  type ResolvedCircuitBreakerOptions,
  createCircuitBreaker,
} from './breaker.js';
export {
  type EmbeddedPdp,
  type EmbeddedPdpOptions,
  type PolicyExplainPoint,
  type SimulateInput,
  createEmbeddedPdp,
} from './embedded.js';
export { type TopicDeclaration, type TopicIndex, buildTopicIndex, enrichInput } from './enrichment.js';
export { POLICY_RUNTIME_ENV, type PolicyRuntimeEnv, policyRuntimeOptions } from './env.js';
export {
  DEFAULT_MAX_CONTENT_BYTES,
  type GrpcOutputPolicy,
  type GrpcOutputPolicyOptions,
  type GrpcPdp,
  type GrpcPdpOptions,
  createGrpcOutputPolicy,
  createGrpcPdp,
} from './grpc.js';
export { DEFAULT_MAX_SCAN_BYTES, type EmbeddedOutputPolicyOptions, createEmbeddedOutputPolicy } from './output.js';
export {
  BASE_BUNDLE_ID,
  DEFAULT_FRAGMENTS,
  DEFAULT_PACKS_REF,
  type LoadedBundleStatus,
  type PolicyRuntime,
  type PolicyRuntimeDeps,
  type PolicyRuntimeOptions,
  type PolicyRuntimeStatus,
  type ReloadResult,
  type RuntimeDecision,
  createPolicyRuntime,
} from './runtime.js';
export { type LoadSource } from './sources.js';
export { DECISION_RECORD_KIND, constraintsJson, decisionRecord, toExplainResponse } from './wire.js';
