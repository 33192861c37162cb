import { describe, expect, it } from 'vitest';
import { createProgress } from '../jobs/progress.js';
import { compactJson, formatAge, formatElapsed, formatLabels, renderData, renderFields, renderTable } from './format.js';
import { colourWanted, createStyle, visibleLength } from './style.js';
import { createMemoryTerminal } from './terminal.js';

const plain = createStyle(false);
const colour = createStyle(true);

describe('tables and fields', () => {
  it('aligns columns on the visible text, upper-cases headers, trims trailing space', () => {
    const rows = [
      { id: 'a', state: 'SUCCEEDED', n: 1 },
      { id: 'long-id', state: 'FAILED', n: 10 },
    ];
    type Row = (typeof rows)[number];
    const columns = (s: ReturnType<typeof createStyle>) => [
      { header: 'id', value: (r: Row) => r.id },
      { header: 'state', value: (r: Row) => r.state, style: (t: string) => s.state(t) },
      { header: 'n', value: (r: Row) => String(r.n) },
    ];
    expect(renderTable(columns(plain), rows, plain)).toEqual(['ID       STATE      N', 'a        SUCCEEDED  1', 'long-id  FAILED     10']);
    const coloured = renderTable(columns(colour), rows, colour);
    expect(coloured[0]).toBe('\u001b[1mID       STATE      N\u001b[22m');
    expect(coloured[1]).toBe(`a        ${'\u001b[32mSUCCEEDED\u001b[39m'}  1`);
    expect(coloured.map(visibleLength)).toEqual([21, 21, 22]);
  });

  it('puts a multi-line cell on one line', () => {
    expect(renderTable([{ header: 'x', value: (r: string) => r }], ['a\n  b'], plain)).toEqual(['X', 'a b']);
  });

  it('renders fields aligned, leaving out undefined values', () => {
    expect(renderFields([['job', 'j1'], ['wait reason', undefined], ['state', 'PENDING']], plain)).toEqual(['job:    j1', 'state:  PENDING']);
  });

  it('renders JSON and YAML', () => {
    expect(renderData({ a: [1, 'x'] }, 'json')).toBe('{\n  "a": [\n    1,\n    "x"\n  ]\n}');
    expect(renderData({ a: [1, 'x'] }, 'yaml')).toBe('a:\n  - 1\n  - x');
    expect(compactJson({ a: 1 })).toBe('{"a":1}');
    expect(formatLabels({})).toBe('-');
    expect(formatLabels({ a: '1', b: '2' })).toBe('a=1,b=2');
  });

  it('formats durations and ages', () => {
    expect([850, 12_000, 60_000, 184_000, 7_500_000, 3_600_000 * 27, 86_400_000].map(formatElapsed)).toEqual(['850ms', '12s', '1m', '3m4s', '2h5m', '1d3h', '1d']);
    expect(formatAge(1_000, 61_000)).toBe('1m');
    expect(formatAge(null, 1)).toBe('-');
  });
});

describe('colours', () => {
  it('only on a TTY and never with NO_COLOR', () => {
    expect(colourWanted(true, false)).toBe(true);
    expect(colourWanted(false, false)).toBe(false);
    expect(colourWanted(true, true)).toBe(false);
    expect(plain.red('x')).toBe('x');
    expect(colour.state('DENIED')).toBe('\u001b[31mDENIED\u001b[39m');
    expect(colour.state('APPROVAL_REQUIRED')).toBe('\u001b[33mAPPROVAL_REQUIRED\u001b[39m');
    expect(colour.state('RUNNING')).toBe('RUNNING');
  });
});

describe('wait progress', () => {
  it('off a terminal: one plain line per change, nothing else', () => {
    const t = createMemoryTerminal();
    let now = 0;
    const p = createProgress({ terminal: t, style: plain, subject: 'job j1', now: () => now, live: false });
    p.update('PENDING', null, true);
    now = 500;
    p.update('PENDING', null, false);
    p.update('APPROVAL_REQUIRED', 'awaiting_approval', true);
    p.note('approve it');
    p.update('SUCCEEDED', null, true);
    p.stop();
    expect(t.stderr()).toBe('job j1: PENDING\njob j1: APPROVAL_REQUIRED (awaiting_approval)\napprove it\njob j1: SUCCEEDED\n');
    expect(t.stdout()).toBe('');
  });

  it('on a terminal: a spinner line rewritten in place with state, wait reason and time, cleared at the end', () => {
    const t = createMemoryTerminal({ tty: true, columns: 200 });
    let now = 0;
    const p = createProgress({ terminal: t, style: plain, subject: 'job j1', now: () => now, live: true });
    p.update('PENDING', null, true);
    now = 12_000;
    p.update('APPROVAL_REQUIRED', 'awaiting_approval', true);
    p.note('approve it');
    p.stop();
    const out = t.stderr();
    expect(out).toContain('⠋ job j1 PENDING 0ms');
    expect(out).toContain('\r\u001b[2K⠙ job j1 APPROVAL_REQUIRED (awaiting_approval) 12s');
    expect(out).toContain('\r\u001b[2Kapprove it\n');
    expect(out.endsWith('\r\u001b[2K')).toBe(true);
  });

  it('keeps the spinner on one row of a narrow terminal', () => {
    const t = createMemoryTerminal({ tty: true, columns: 30 });
    const p = createProgress({ terminal: t, style: colour, subject: 'job 01a2015d-9774-71ca-a768-6dde651fbfbd', now: () => 0, live: true });
    p.update('APPROVAL_REQUIRED', 'awaiting_approval', true);
    p.stop();
    const line = t.stderr().split('\r\u001b[2K').find((s) => s.includes('job')) ?? '';
    expect(visibleLength(line)).toBeLessThanOrEqual(29);
    expect(line).toMatch(/…$/);
  });
});
