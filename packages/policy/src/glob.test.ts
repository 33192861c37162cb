import { describe, expect, it } from 'vitest';
import { compileTopicMatcher, globProblem } from './glob.js';

const m = (pattern: string, topic: string): boolean => compileTopicMatcher([pattern]).test(topic.toLowerCase());

describe('topic globs (Go path.Match semantics)', () => {
  it('matches literals exactly, case-insensitively', () => {
    expect(m('job.a.b', 'job.a.b')).toBe(true);
    expect(m('Job.A.B', 'job.a.B')).toBe(true);
    expect(m('job.a.b', 'job.a.bc')).toBe(false);
    expect(m('job.a', 'job.a.b')).toBe(false);
  });

  it('lets * match within and across dots, but never across /', () => {
    expect(m('job.*', 'job.a')).toBe(true);
    expect(m('job.*', 'job.a.b.c')).toBe(true);
    expect(m('job.*', 'job.')).toBe(true);
    expect(m('job.*', 'jobs.a')).toBe(false);
    expect(m('job.*.write', 'job.x.y.write')).toBe(true);
    expect(m('job.*.write', 'job.x.read')).toBe(false);
    expect(m('job.*', 'job.a/b')).toBe(false);
    expect(m('*', 'job.anything')).toBe(true);
  });

  it('supports ?, classes, negated classes, ranges and escapes', () => {
    expect(m('job.?', 'job.a')).toBe(true);
    expect(m('job.?', 'job.ab')).toBe(false);
    expect(m('job.[ab].x', 'job.b.x')).toBe(true);
    expect(m('job.[ab].x', 'job.c.x')).toBe(false);
    expect(m('job.[^ab].x', 'job.c.x')).toBe(true);
    expect(m('job.[a-c]1', 'job.b1')).toBe(true);
    expect(m('job.[a-c]1', 'job.d1')).toBe(false);
    expect(m('job.\\*', 'job.*')).toBe(true);
    expect(m('job.\\*', 'job.a')).toBe(false);
    expect(m('job.a+b', 'job.a+b')).toBe(true);
    expect(m('job.(x)', 'job.(x)')).toBe(true);
  });

  it('combines several patterns (any may match)', () => {
    const matcher = compileTopicMatcher(['job.a', 'job.b.*', 'job.c?']);
    expect(matcher.test('job.a')).toBe(true);
    expect(matcher.test('job.b.z')).toBe(true);
    expect(matcher.test('job.cx')).toBe(true);
    expect(matcher.test('job.d')).toBe(false);
  });

  it('reports malformed patterns', () => {
    expect(globProblem('job.*')).toBeNull();
    expect(globProblem('job.[a')).toMatch(/unclosed/);
    expect(globProblem('job.[]')).toMatch(/empty or malformed/);
    expect(globProblem('job.[^]')).toMatch(/empty or malformed/);
    expect(globProblem('job.x\\')).toMatch(/unfinished escape/);
    expect(globProblem('job.[z-a]')).toMatch(/reversed range/);
    expect(globProblem('job.[a-]')).toMatch(/unfinished range/);
  });
});
