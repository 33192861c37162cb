// @cordum/policy: the pure policy engine. Parse and validate bundles, merge them into a snapshot, evaluate,
// explain, simulate, run pack policy simulations, decide on output findings. No IO, no env, no clock.
export { parseBundle } from './bundle.js';
export { type CaseResult, normaliseExpectedDecision, type PolicyCase, runCases, type RunCasesOptions } from './cases.js';
export {
  type CompiledOutputRule,
  type CompiledRule,
  compilePolicy,
  orderBundles,
  type Policy,
  type PolicyOptions,
  type PolicySnapshot,
  type ResolvedPolicyOptions,
  type RuleOrigin,
  type RuleSource,
  type TenantPolicy,
} from './compile.js';
export { type Decision, DECISIONS, type OutputDecision, parseDecision, parseOutputDecision } from './decision.js';
export { PolicyError, type PolicyErrorDetails } from './errors.js';
export {
  evaluate,
  explain,
  type PolicyDecision,
  type PolicyExplanation,
  type RuleTrace,
  type RuleTraceStatus,
  simulate,
} from './evaluate.js';
export {
  createPolicyInput,
  deriveFromLabels,
  inputFromCheckRequest,
  type McpRequest,
  normaliseActorType,
  type PolicyInput,
} from './input.js';
export type {
  Bundle,
  BundleSource,
  Constraints,
  MatchSpec,
  McpLists,
  OutputRuleSpec,
  Remediation,
  RuleSpec,
  Severity,
  TenantSpec,
} from './model.js';
export { evaluateOutput, type OutputFinding, type OutputPolicyDecision } from './output.js';
export { parseEd25519PublicKey, verifyBundleSignature } from './signature.js';
export {
  fromWireDecision,
  outputFindingFromWire,
  toCheckResponse,
  toWireConstraints,
  toWireDecision,
  toWireOutputDecision,
} from './wire.js';
