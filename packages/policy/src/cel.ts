import { Environment } from '@marcbachmann/cel-js';
import type { PolicyInput } from './input.js';

// `when` expressions are CEL over one variable, `request`: the PolicyInput with the snake_case names bundles
// use. The schema makes a typo such as `request.risk_tag` a load-time error instead of a rule that silently
// never matches.
const env = new Environment({ limits: { maxAstNodes: 5000, maxDepth: 64 } }).registerVariable({
  name: 'request',
  schema: {
    tenant: 'string',
    topic: 'string',
    job_id: 'string',
    principal_id: 'string',
    priority: 'string',
    capability: 'string',
    risk_tags: 'list<string>',
    requires: 'list<string>',
    pack_id: 'string',
    actor_id: 'string',
    actor_type: 'string',
    labels: 'map<string, string>',
    secrets_present: 'bool',
    mcp: { server: 'string', tool: 'string', resource: 'string', action: 'string' },
    estimated_cost: 'double',
    memory_id: 'string',
    effective_config: 'dyn',
  },
});

/** The `request` variable as CEL sees it. */
export type CelRequest = Record<string, unknown>;

export type WhenResult = { ok: true; value: boolean } | { ok: false; error: string };

export type WhenProgram = {
  readonly source: string;
  run(request: CelRequest): WhenResult;
};

function firstLine(message: string): string {
  const i = message.indexOf('\n');
  return (i === -1 ? message : message.slice(0, i)).trim();
}

/** Parses and type-checks once. Throws Error(message) when the expression is malformed or not boolean. */
export function compileWhen(source: string): WhenProgram {
  let parsed: ReturnType<typeof env.parse>;
  try {
    parsed = env.parse(source);
  } catch (err) {
    throw new Error(`CEL syntax error: ${firstLine(err instanceof Error ? err.message : String(err))}`, { cause: err });
  }
  const checked = parsed.check();
  if (!checked.valid) {
    throw new Error(`CEL type error: ${firstLine(checked.error?.message ?? 'invalid expression')}`);
  }
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    throw new Error(`CEL expression must be a bool, not ${checked.type ?? 'unknown'}`);
  }
  const fn: (context: Record<string, unknown>) => unknown = parsed;
  return {
    source,
    run(request) {
      try {
        const value = fn({ request });
        if (typeof value !== 'boolean') return { ok: false, error: `returned ${describe(value)}, not a bool` };
        return { ok: true, value };
      } catch (err) {
        return { ok: false, error: firstLine(err instanceof Error ? err.message : String(err)) };
      }
    },
  };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value}`;
}

/** Builds the `request` variable; `tenant` is the tenant after defaulting. */
export function celRequest(input: PolicyInput, tenant: string): CelRequest {
  return {
    tenant,
    topic: input.topic,
    job_id: input.jobId,
    principal_id: input.principalId,
    priority: input.priority,
    capability: input.capability,
    risk_tags: input.riskTags,
    requires: input.requires,
    pack_id: input.packId,
    actor_id: input.actorId,
    actor_type: input.actorType,
    labels: input.labels,
    secrets_present: input.secretsPresent,
    mcp: { server: input.mcp.server, tool: input.mcp.tool, resource: input.mcp.resource, action: input.mcp.action },
    estimated_cost: input.estimatedCost,
    memory_id: input.memoryId,
    effective_config: input.effectiveConfig ?? null,
  };
}
