import { describe, expect, it } from 'vitest';
import type { ReadDocument } from '../input/read.js';
import { buildSetBody } from './config.js';

const doc = (value: unknown): ReadDocument => ({ value, text: '', format: 'yaml', source: '/d.yaml' });

describe('config set body', () => {
  it('sends data with the scope flags and the compare-and-set revision', () => {
    expect(buildSetBody(doc({ limits: { max: 5 } }), { scope: 'team', scopeId: 'payments', revision: 0 }, undefined)).toEqual({
      scope: 'team',
      scope_id: 'payments',
      data: { limits: { max: 5 } },
      revision: 0,
    });
    expect(buildSetBody(doc({ a: 1 }), { scope: 'system' }, doc({ note: 'x' }))).toEqual({ scope: 'system', data: { a: 1 }, meta: { note: 'x' } });
  });

  it('takes a whole document as config get prints it (its revision makes it a compare-and-set); flags win', () => {
    const read = { scope: 'team', scope_id: 'payments', revision: 3, data: { a: 1 }, meta: { m: 1 }, updated_at: 1, updated_by: 'ada' };
    expect(buildSetBody(doc(read), {}, undefined)).toEqual({ scope: 'team', scope_id: 'payments', data: { a: 1 }, meta: { m: 1 }, revision: 3 });
    expect(buildSetBody(doc(read), { scopeId: 'other', revision: 4 }, undefined)).toMatchObject({ scope_id: 'other', revision: 4 });
    // data that merely has a "data" key is data
    expect(buildSetBody(doc({ scope: 'x', data: 1, other: true }), { scope: 'org' }, undefined)).toEqual({ scope: 'org', data: { scope: 'x', data: 1, other: true } });
  });

  it('needs a scope and an object', () => {
    expect(() => buildSetBody(doc({ a: 1 }), {}, undefined)).toThrow('config set needs --scope (system, org, team, workflow or step)');
    expect(() => buildSetBody(doc([1]), { scope: 'org' }, undefined)).toThrow(/expected an object/);
  });
});
