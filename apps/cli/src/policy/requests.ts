import { basename, extname } from 'node:path';
import { usageError } from '../errors.js';
import { type ReadDocument, requireObject } from '../input/read.js';
import { ACTOR_TYPES, PRIORITIES, parseLabels, splitList } from '../jobs/submit.js';

// Flags of the gateway's policy commands → request bodies and paths. Pure: files are read by the caller.

/** The request flags evaluate, explain, simulate and `bundles simulate` share (upstream's policy-check fields). */
export type CheckFlags = {
  topic?: string;
  capability?: string;
  riskTags?: string[];
  requires?: string[];
  labels?: string[];
  packId?: string;
  actorId?: string;
  actorType?: string;
  priority?: string;
  principalId?: string;
  team?: string;
  workflow?: string;
  step?: string;
};

function choice(value: string | undefined, flag: string, allowed: readonly string[]): string | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value)) throw usageError(`${flag}: ${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
  return value;
}

/**
 * The policy-check body: the --request document (if any), then each flag given on top of it. The gateway
 * needs a topic; saying so here spares a round trip.
 */
export function buildCheckBody(flags: CheckFlags, request: ReadDocument | undefined): Record<string, unknown> {
  const body: Record<string, unknown> = request === undefined ? {} : { ...requireObject(request, '--request') };
  const set = (key: string, value: unknown): void => {
    if (value === undefined || (Array.isArray(value) && value.length === 0)) return;
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0) return;
    body[key] = value;
  };
  set('topic', flags.topic);
  set('capability', flags.capability);
  set('risk_tags', splitList(flags.riskTags));
  set('requires', splitList(flags.requires));
  set('labels', parseLabels(flags.labels));
  set('pack_id', flags.packId);
  set('actor_id', flags.actorId);
  set('actor_type', choice(flags.actorType, '--actor-type', ACTOR_TYPES));
  set('priority', choice(flags.priority, '--priority', PRIORITIES));
  set('principal_id', flags.principalId);
  set('team_id', flags.team);
  set('workflow_id', flags.workflow);
  set('step_id', flags.step);
  if (typeof body['topic'] !== 'string' || body['topic'] === '') throw usageError('a policy question needs --topic (or a topic in --request)');
  return body;
}

/** `secops/freeze` → the path segment `secops~freeze` (the gateway's spelling of a bundle id in a path). */
export function bundlePath(id: string): string {
  return `/api/v1/policy/bundles/${encodeURIComponent(id.replaceAll('/', '~'))}`;
}

/**
 * `--bundle [id=]file` of simulate: the id before the first `=`, else `secops/<file name without extension>`.
 */
export function parseBundleFlag(raw: string): { id: string; file: string } {
  const eq = raw.indexOf('=');
  if (eq > 0) return { id: raw.slice(0, eq), file: raw.slice(eq + 1) };
  const name = basename(raw, extname(raw));
  return { id: `secops/${name}`, file: raw };
}
