import { InvalidError } from '@cordum/core';
import { ActorType, JobPriority, type PolicyCheckRequest } from '@cordum/protocol';

/** What rules see. Built from a PolicyCheckRequest (inputFromCheckRequest) or by hand (createPolicyInput). */
export type PolicyInput = {
  tenant: string;
  topic: string;
  jobId: string;
  principalId: string;
  /** '' | 'interactive' | 'batch' | 'critical' */
  priority: string;
  capability: string;
  riskTags: string[];
  requires: string[];
  packId: string;
  actorId: string;
  actorType: '' | 'human' | 'service';
  labels: Record<string, string>;
  secretsPresent: boolean;
  mcp: McpRequest;
  estimatedCost: number;
  memoryId: string;
  /** The job's effective config, parsed JSON, or null when the request carried none. */
  effectiveConfig: unknown;
};

export type McpRequest = { server: string; tool: string; resource: string; action: string };

/** A complete PolicyInput from the fields given; everything else is empty. */
export function createPolicyInput(fields: Partial<PolicyInput> & { topic: string }): PolicyInput {
  return {
    tenant: '',
    jobId: '',
    principalId: '',
    priority: '',
    capability: '',
    riskTags: [],
    requires: [],
    packId: '',
    actorId: '',
    actorType: '',
    labels: {},
    secretsPresent: false,
    mcp: { server: '', tool: '', resource: '', action: '' },
    estimatedCost: 0,
    memoryId: '',
    effectiveConfig: null,
    ...fields,
  };
}

/** Accepts 'human', 'service', 'ACTOR_TYPE_HUMAN', …; anything else is ''. */
export function normaliseActorType(raw: string): '' | 'human' | 'service' {
  let s = raw.trim().toLowerCase();
  if (s.startsWith('actor_type_')) s = s.slice('actor_type_'.length);
  return s === 'human' || s === 'service' ? s : '';
}

// Upstream reads MCP call details from labels in any of these spellings.
const MCP_LABELS = {
  server: ['mcp.server', 'mcp_server', 'mcpServer'],
  tool: ['mcp.tool', 'mcp_tool', 'mcpTool'],
  resource: ['mcp.resource', 'mcp_resource', 'mcpResource'],
  action: ['mcp.action', 'mcp_action', 'mcpAction'],
} as const;

function firstLabel(labels: Record<string, string>, keys: readonly string[]): string {
  for (const key of keys) {
    const v = Object.hasOwn(labels, key) ? labels[key] : undefined;
    if (v !== undefined && v.trim() !== '') return v.trim();
  }
  return '';
}

const TRUE_LABEL = new Set(['true', '1', 'yes']);

/**
 * What upstream derives from labels and risk tags: `secrets_present` (a true `secrets_present` label or a
 * `secrets` risk tag) and the MCP call (labels `mcp.server`, `mcp_server` or `mcpServer`; same for tool,
 * resource and action).
 */
export function deriveFromLabels(
  labels: Record<string, string>,
  riskTags: readonly string[],
): { secretsPresent: boolean; mcp: McpRequest } {
  const secretsLabel = (Object.hasOwn(labels, 'secrets_present') ? (labels['secrets_present'] ?? '') : '').trim().toLowerCase();
  return {
    secretsPresent: TRUE_LABEL.has(secretsLabel) || riskTags.some((t) => t.trim().toLowerCase() === 'secrets'),
    mcp: {
      server: firstLabel(labels, MCP_LABELS.server),
      tool: firstLabel(labels, MCP_LABELS.tool),
      resource: firstLabel(labels, MCP_LABELS.resource),
      action: firstLabel(labels, MCP_LABELS.action),
    },
  };
}

/** Decodes the wire request into what rules see. Throws InvalidError when effective_config is not JSON. */
export function inputFromCheckRequest(req: PolicyCheckRequest): PolicyInput {
  const meta = req.meta;
  // Job-level labels (meta.labels) first, request labels over them: the request is what the scheduler saw last.
  const labels: Record<string, string> = { ...(meta?.labels ?? {}), ...req.labels };
  const riskTags = [...(meta?.riskTags ?? [])];
  const derived = deriveFromLabels(labels, riskTags);
  return {
    tenant: req.tenant.trim() !== '' ? req.tenant.trim() : (meta?.tenantId.trim() ?? ''),
    topic: req.topic.trim(),
    jobId: req.jobId,
    principalId: req.principalId,
    priority: priorityName(req.priority),
    capability: meta?.capability ?? '',
    riskTags,
    requires: [...(meta?.requires ?? [])],
    packId: meta?.packId ?? '',
    actorId: meta?.actorId ?? '',
    actorType: actorTypeName(meta?.actorType ?? ActorType.UNSPECIFIED),
    labels,
    secretsPresent: derived.secretsPresent,
    mcp: derived.mcp,
    estimatedCost: req.estimatedCost,
    memoryId: req.memoryId,
    effectiveConfig: parseEffectiveConfig(req.effectiveConfig),
  };
}

function priorityName(p: JobPriority): string {
  switch (p) {
    case JobPriority.INTERACTIVE:
      return 'interactive';
    case JobPriority.BATCH:
      return 'batch';
    case JobPriority.CRITICAL:
      return 'critical';
    case JobPriority.UNSPECIFIED:
      return '';
  }
  return '';
}

function actorTypeName(t: ActorType): '' | 'human' | 'service' {
  switch (t) {
    case ActorType.HUMAN:
      return 'human';
    case ActorType.SERVICE:
      return 'service';
    case ActorType.UNSPECIFIED:
      return '';
  }
  return '';
}

const decoder = new TextDecoder('utf-8', { fatal: true });

// The effective config can deny topics, so a request whose config cannot be read is refused rather than
// evaluated as if it had none.
function parseEffectiveConfig(bytes: Uint8Array): unknown {
  if (bytes.length === 0) return null;
  try {
    return JSON.parse(decoder.decode(bytes)) as unknown;
  } catch (err) {
    throw new InvalidError('effective_config is not valid UTF-8 JSON', {
      details: { field: 'effective_config' },
      cause: err,
    });
  }
}
