import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gatewayError } from './errors.js';
import { EXIT, exitCodeForStatus } from './exit-codes.js';

describe('gateway errors', () => {
  it("become one sentence with the gateway's code and status, and the exit code of the status", () => {
    const e = gatewayError(404, { error: { code: 'not_found', message: 'job j1 not found', details: {} } });
    expect(e).toMatchObject({ message: 'job j1 not found (not_found, HTTP 404)', exitCode: EXIT.notFound, code: 'not_found', status: 404, hint: undefined });
    expect(gatewayError(401, { error: { code: 'unauthenticated', message: 'invalid API key', details: {} } })).toMatchObject({
      message: 'invalid API key (unauthenticated, HTTP 401)',
      exitCode: EXIT.auth,
      hint: expect.stringMatching(/--api-key, CORDUM_API_KEY/) as string,
    });
    expect(
      gatewayError(403, { error: { code: 'permission_denied', message: 'this needs the admin role.', details: { required_role: 'admin' } } }),
    ).toMatchObject({ message: 'this needs the admin role (permission_denied, HTTP 403)', hint: 'use a key with the role this needs (needs admin)' });
    expect(gatewayError(502, 'Bad Gateway')).toMatchObject({
      message: 'the gateway answered HTTP 502 without a Cordum error body',
      code: 'http_502',
      exitCode: EXIT.unavailable,
    });
  });

  it('map statuses to the documented exit codes', () => {
    expect([400, 401, 403, 404, 409, 410, 413, 415, 429, 500, 503, 504].map(exitCodeForStatus)).toEqual([2, 4, 4, 3, 5, 3, 2, 2, 6, 1, 6, 6]);
  });
});

describe('docs/cli.md', () => {
  it('documents every exit code, and no other', () => {
    const doc = readFileSync(new URL('../../../docs/cli.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## Exit codes'));
    const documented = [...section.matchAll(/^\| `(\d+)` \|/gm)].map((m) => Number(m[1]));
    expect(documented.sort((a, b) => a - b)).toEqual(Object.values(EXIT).sort((a, b) => a - b));
  });
});
