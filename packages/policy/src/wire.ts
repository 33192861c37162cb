import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  DecisionType,
  OutputDecision as WireOutputDecision,
  type OutputFinding as WireOutputFinding,
  type PolicyCheckResponse,
  PolicyCheckResponseSchema,
  type PolicyConstraintsSchema,
} from '@cordum/protocol';
import type { Decision, OutputDecision } from './decision.js';
import type { PolicyDecision } from './evaluate.js';
import type { Constraints } from './model.js';
import type { OutputFinding } from './output.js';

/** Decision → wire enum. REQUIRE_APPROVAL is REQUIRE_HUMAN on the wire (CAP's name for it). */
export function toWireDecision(decision: Decision): DecisionType {
  switch (decision) {
    case 'ALLOW':
      return DecisionType.ALLOW;
    case 'DENY':
      return DecisionType.DENY;
    case 'REQUIRE_APPROVAL':
      return DecisionType.REQUIRE_HUMAN;
    case 'ALLOW_WITH_CONSTRAINTS':
      return DecisionType.ALLOW_WITH_CONSTRAINTS;
    case 'THROTTLE':
      return DecisionType.THROTTLE;
  }
}

/** Wire enum → Decision; null for UNSPECIFIED and the output-only values (QUARANTINE, REDACT). */
export function fromWireDecision(decision: DecisionType): Decision | null {
  switch (decision) {
    case DecisionType.ALLOW:
      return 'ALLOW';
    case DecisionType.DENY:
      return 'DENY';
    case DecisionType.REQUIRE_HUMAN:
      return 'REQUIRE_APPROVAL';
    case DecisionType.ALLOW_WITH_CONSTRAINTS:
      return 'ALLOW_WITH_CONSTRAINTS';
    case DecisionType.THROTTLE:
      return 'THROTTLE';
    case DecisionType.UNSPECIFIED:
    case DecisionType.QUARANTINE:
    case DecisionType.REDACT:
      return null;
  }
  return null;
}

export function toWireOutputDecision(decision: OutputDecision): WireOutputDecision {
  switch (decision) {
    case 'ALLOW':
      return WireOutputDecision.ALLOW;
    case 'REDACT':
      return WireOutputDecision.REDACT;
    case 'QUARANTINE':
      return WireOutputDecision.QUARANTINE;
  }
}

/** A wire finding as evaluateOutput takes it (int64 offsets become numbers). */
export function outputFindingFromWire(f: WireOutputFinding): OutputFinding {
  return {
    type: f.type,
    severity: f.severity,
    scanner: f.scanner,
    offset: Number(f.offset),
    length: Number(f.length),
    confidence: f.confidence,
    detail: f.detail,
    matchedPattern: f.matchedPattern,
  };
}

export function toWireConstraints(c: Constraints): MessageInitShape<typeof PolicyConstraintsSchema> {
  const out: MessageInitShape<typeof PolicyConstraintsSchema> = {};
  if (c.budgets !== undefined) {
    out.budgets = {
      maxRuntimeMs: BigInt(c.budgets.maxRuntimeMs ?? 0),
      maxRetries: c.budgets.maxRetries ?? 0,
      maxArtifactBytes: BigInt(c.budgets.maxArtifactBytes ?? 0),
      maxConcurrentJobs: c.budgets.maxConcurrentJobs ?? 0,
    };
  }
  if (c.sandbox !== undefined) {
    out.sandbox = {
      isolated: c.sandbox.isolated ?? false,
      networkAllowlist: [...(c.sandbox.networkAllowlist ?? [])],
      fsReadOnly: [...(c.sandbox.fsReadOnly ?? [])],
      fsReadWrite: [...(c.sandbox.fsReadWrite ?? [])],
    };
  }
  if (c.toolchain !== undefined) {
    out.toolchain = {
      allowedTools: [...(c.toolchain.allowedTools ?? [])],
      allowedCommands: [...(c.toolchain.allowedCommands ?? [])],
    };
  }
  if (c.diff !== undefined) {
    out.diff = {
      maxFiles: c.diff.maxFiles ?? 0,
      maxLines: c.diff.maxLines ?? 0,
      denyPathGlobs: [...(c.diff.denyPathGlobs ?? [])],
    };
  }
  if (c.redactionLevel !== undefined) out.redactionLevel = c.redactionLevel;
  return out;
}

/** The SafetyKernel response for a decision: constraints, remediations and approval_required/approval_ref. */
export function toCheckResponse(decision: PolicyDecision): PolicyCheckResponse {
  return create(PolicyCheckResponseSchema, {
    decision: toWireDecision(decision.decision),
    reason: decision.reason,
    policySnapshot: decision.snapshot,
    ruleId: decision.ruleId,
    ...(decision.constraints === null ? {} : { constraints: toWireConstraints(decision.constraints) }),
    approvalRequired: decision.approvalRequired,
    approvalRef: decision.approvalRef,
    remediations: decision.remediations.map((r) => ({
      id: r.id,
      title: r.title,
      summary: r.summary,
      replacementTopic: r.replacementTopic,
      replacementCapability: r.replacementCapability,
      addLabels: { ...r.addLabels },
      removeLabels: [...r.removeLabels],
    })),
  });
}
