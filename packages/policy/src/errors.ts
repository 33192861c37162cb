import { InvalidError } from '@cordum/core';

/** Where a policy problem is: always the bundle, and the rule, field and line when they are known. */
export type PolicyErrorDetails = {
  bundle: string;
  rule_id?: string;
  field?: string;
  line?: number;
};

/**
 * A bundle that does not parse or validate (code `policy_invalid`). The message names the bundle, the rule id
 * and the field so that an operator can fix the YAML without reading code; details carry the same facts for
 * API clients. A kernel that gets one keeps its last known good snapshot.
 */
export class PolicyError extends InvalidError {
  readonly where: Readonly<PolicyErrorDetails>;

  constructor(problem: string, where: PolicyErrorDetails, options: { cause?: unknown } = {}) {
    super(formatMessage(problem, where), {
      code: 'policy_invalid',
      details: { ...where },
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.where = Object.freeze({ ...where });
    // InvalidError types `name` as the literal 'InvalidError'; stack traces and logs should still say which
    // error this is, so the own property is redefined at runtime.
    Object.defineProperty(this, 'name', { value: 'PolicyError', enumerable: false, configurable: true, writable: true });
  }
}

function formatMessage(problem: string, where: PolicyErrorDetails): string {
  let head = `policy bundle "${where.bundle}"`;
  if (where.line !== undefined) head += ` line ${where.line}`;
  if (where.rule_id !== undefined) head += `, rule "${where.rule_id}"`;
  if (where.field !== undefined) head += `, field ${where.field}`;
  return `${head}: ${problem}`;
}
