// Thin gRPC adapters: decode (done by @cordum/rpc), call the decision point, encode. No policy logic here.
import { InvalidError, type OutputPolicyPoint } from '@cordum/core';
import type { EmbeddedPdp } from '@cordum/pdp';
import type { OutputPolicyService, PolicyExplainer, SafetyKernel } from '@cordum/protocol';
import type { UnaryImpl } from '@cordum/rpc';

/**
 * cordum.agent.v1.SafetyKernel. Only Check records a decision. CAP's Explain and Simulate answer a
 * PolicyCheckResponse, which has no room for a trace or drafts: they return the live decision without side
 * effects (as upstream does); cordum.v1.PolicyExplainer has the trace and the drafts.
 */
export function safetyKernelHandlers(pdp: EmbeddedPdp): UnaryImpl<typeof SafetyKernel> {
  return {
    check: (request, ctx) => pdp.check(request, { signal: ctx.signal }),
    evaluate: (request) => pdp.evaluate(request),
    explain: async (request) => (await pdp.explain(request)).decision ?? {},
    simulate: (request) => pdp.evaluate(request),
    listSnapshots: async () => ({ snapshots: [...(await pdp.listSnapshots())] }),
  };
}

export function policyExplainerHandlers(pdp: EmbeddedPdp): UnaryImpl<typeof PolicyExplainer> {
  return {
    explain: (request) => pdp.explain(request),
    simulate: (request) => {
      if (request.request === undefined) {
        return Promise.reject(new InvalidError('request is required', { details: { field: 'request' } }));
      }
      return pdp.simulate({ request: request.request, bundles: request.bundles, defaultDecision: request.defaultDecision });
    },
  };
}

export function outputPolicyHandlers(output: OutputPolicyPoint): UnaryImpl<typeof OutputPolicyService> {
  return {
    checkOutput: (request, ctx) => output.checkOutput(request, { signal: ctx.signal }),
  };
}
