import { InvalidError } from '@cordum/core';

/** One problem of a definition: where (a dotted path such as `steps.c.depends_on`) and what. */
export type WorkflowProblem = { path: string; message: string };

/**
 * A workflow definition that does not parse or validate (code `workflow_invalid`, HTTP 400). The message
 * names the workflow and the first problem with its path; `details.problems` lists every problem so that a
 * client can show them all at once.
 */
export class WorkflowError extends InvalidError {
  readonly problems: readonly WorkflowProblem[];

  constructor(workflowId: string | undefined, problems: readonly WorkflowProblem[]) {
    const first = problems[0] ?? { path: '', message: 'invalid definition' };
    const head = workflowId === undefined || workflowId === '' ? 'workflow' : `workflow "${workflowId}"`;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    super(`${head}: ${first.path === '' ? '' : `${first.path}: `}${first.message}${more}`, {
      code: 'workflow_invalid',
      details: {
        ...(workflowId === undefined ? {} : { workflow_id: workflowId }),
        problems: problems.map((p) => ({ path: p.path, message: p.message })),
      },
    });
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
    // InvalidError types `name` as a literal; logs should still say which error this is.
    Object.defineProperty(this, 'name', { value: 'WorkflowError', enumerable: false, configurable: true, writable: true });
  }
}
