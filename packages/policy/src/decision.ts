// Decisions and the spellings upstream bundles use for them.

export type Decision = 'ALLOW' | 'DENY' | 'REQUIRE_APPROVAL' | 'ALLOW_WITH_CONSTRAINTS' | 'THROTTLE';

export const DECISIONS: readonly Decision[] = Object.freeze([
  'ALLOW',
  'DENY',
  'REQUIRE_APPROVAL',
  'ALLOW_WITH_CONSTRAINTS',
  'THROTTLE',
]);

export type OutputDecision = 'ALLOW' | 'REDACT' | 'QUARANTINE';

// Upstream's normalizeDecision spellings, plus the wire names (REQUIRE_HUMAN, DECISION_TYPE_*) so that
// expectations copied from API responses read back. Keys are lower-case with '-' folded to '_'.
const DECISION_ALIASES: ReadonlyMap<string, Decision> = new Map([
  ['allow', 'ALLOW'],
  ['permit', 'ALLOW'],
  ['deny', 'DENY'],
  ['block', 'DENY'],
  ['require_approval', 'REQUIRE_APPROVAL'],
  ['require_human', 'REQUIRE_APPROVAL'],
  ['allow_with_constraints', 'ALLOW_WITH_CONSTRAINTS'],
  ['throttle', 'THROTTLE'],
]);

const OUTPUT_DECISION_ALIASES: ReadonlyMap<string, OutputDecision> = new Map([
  ['allow', 'ALLOW'],
  ['redact', 'REDACT'],
  ['quarantine', 'QUARANTINE'],
  // Newer upstream output rules say `deny`; for an output that means it must not be released.
  ['deny', 'QUARANTINE'],
  ['block', 'QUARANTINE'],
]);

function foldDecision(raw: string): string {
  let s = raw.trim().toLowerCase().replaceAll('-', '_');
  if (s.startsWith('decision_type_')) s = s.slice('decision_type_'.length);
  return s;
}

/** Parses any accepted spelling (case-insensitive); null when it is not a decision. */
export function parseDecision(raw: string): Decision | null {
  return DECISION_ALIASES.get(foldDecision(raw)) ?? null;
}

export function parseOutputDecision(raw: string): OutputDecision | null {
  return OUTPUT_DECISION_ALIASES.get(foldDecision(raw)) ?? null;
}
