import { describe, expect, it } from 'vitest';
import { BASE_FIELD, LAYOUT_FIELD, PARTS_LAYOUT, joinRunDoc, splitRunDoc } from './run-doc.js';

/** The record hash a store holds after applying `writes` in order, as the run-update script does. */
function apply(writes: ReturnType<typeof splitRunDoc>[]): Record<string, string> {
  let hash: Record<string, string> = {};
  for (const w of writes) {
    if (w.full) hash = {};
    hash[BASE_FIELD] = w.base;
    hash[LAYOUT_FIELD] = PARTS_LAYOUT;
    for (const [f, v] of w.set) hash[f] = v;
    for (const f of w.drop) delete hash[f];
  }
  return hash;
}

const doc0 = {
  format: 'cordum.run/v1',
  definition: { id: 'wf', steps: { a: { id: 'a' }, b: { id: 'b' } } },
  input: { n: 1 },
  status: 'running',
  steps: { a: { step_id: 'a', status: 'running' }, b: { step_id: 'b', status: 'pending' } },
  context: { steps: {}, extra: { x: 1 } },
};

describe('run documents stored in parts', () => {
  it('a full write sends every part and joins back to the same document, key order kept', () => {
    const w = splitRunDoc(doc0);
    expect(w.full).toBe(true);
    expect(w.set.map(([f]) => f).sort()).toEqual(['def', 's:a', 's:b']);
    expect(JSON.parse(w.base)).toMatchObject({ definition: 0, steps: { a: 0, b: 0 } });
    const back = joinRunDoc(apply([w]));
    expect(JSON.stringify(back)).toBe(JSON.stringify(doc0));
  });

  it('a delta write sends only the parts that are new objects, and drops the parts that went away', () => {
    const w0 = splitRunDoc(doc0);
    // Copy-on-write, as the reducer does: step a changes, b is shared, a context step appears.
    const doc1 = {
      ...doc0,
      steps: { ...doc0.steps, a: { step_id: 'a', status: 'succeeded', output: { ok: true } } },
      context: { ...doc0.context, steps: { a: { output: { ok: true } } } },
    };
    const w1 = splitRunDoc(doc1, doc0);
    expect(w1.full).toBe(false);
    expect(w1.set.map(([f]) => f)).toEqual(['s:a', 'c:a']);
    // A rerun removes the context step again.
    const doc2 = { ...doc1, context: { ...doc1.context, steps: {} } };
    const w2 = splitRunDoc(doc2, doc1);
    expect(w2.set).toEqual([]);
    expect(w2.drop).toEqual(['c:a']);
    const hash = apply([w0, w1, w2]);
    expect(hash['c:a']).toBeUndefined();
    expect(joinRunDoc(apply([w0, w1]))).toEqual(doc1);
    expect(joinRunDoc(hash)).toEqual(doc2);
  });

  it('keeps literal zeros and non-object entries inline, and reads documents stored whole', () => {
    const doc = { steps: { a: 0, b: [1], c: { x: 1 } }, definition: 'not an object', context: { steps: 3 } };
    const w = splitRunDoc(doc);
    expect(w.set.map(([f]) => f)).toEqual(['s:c']);
    expect(joinRunDoc(apply([w]))).toEqual(doc);
    expect(joinRunDoc({ [BASE_FIELD]: JSON.stringify(doc0) })).toEqual(doc0);
  });

  it('a step called __proto__ is an ordinary part', () => {
    const doc = JSON.parse('{"steps":{"__proto__":{"status":"running"},"b":{"status":"pending"}}}') as Record<string, unknown>;
    const back = joinRunDoc(apply([splitRunDoc(doc)]));
    expect(Object.keys(back['steps'] as object)).toEqual(['__proto__', 'b']);
    expect(JSON.stringify(back)).toBe(JSON.stringify(doc));
  });

  it('rejects what is not a JSON object', () => {
    expect(() => splitRunDoc([])).toThrow(/doc must be a JSON object/);
    const cyclic: Record<string, unknown> = { steps: {} };
    (cyclic['steps'] as Record<string, unknown>)['a'] = cyclic;
    expect(() => splitRunDoc(cyclic)).toThrow(/not representable as JSON/);
  });
});
