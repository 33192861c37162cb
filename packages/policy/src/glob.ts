// Topic globs with Go path.Match semantics, which upstream Cordum uses for `match.topics`:
//   *        any run of characters except '/' (topics have no '/', so `job.*` also matches `job.a.b`)
//   ?        one character except '/'
//   [a-z]    character class, [^…] negated; ranges lo-hi; must be non-empty and closed
//   \c       the character c
// A malformed pattern is an error at load time (upstream silently never matches it). Matching is
// case-insensitive, like every other string comparison in the policy.

/** A compiled list of topic globs; `test` expects the topic already lower-cased. */
export type TopicMatcher = {
  readonly patterns: readonly string[];
  test(lowerTopic: string): boolean;
};

const META = /[*?[\\]/;

/** Returns why the glob is malformed, or null when it is valid. */
export function globProblem(pattern: string): string | null {
  try {
    globToRegExpSource(pattern);
    return null;
  } catch (err) {
    return err instanceof GlobSyntaxError ? err.message : String(err);
  }
}

class GlobSyntaxError extends Error {}

// With the `u` flag only syntax characters (and '-' inside a class) may be escaped.
function escapeRegExpChar(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

function escapeClassChar(c: string): string {
  return /[\]\\^-]/.test(c) ? `\\${c}` : c;
}

/** Translates one glob to a RegExp source (no anchors). Throws GlobSyntaxError when malformed. */
function globToRegExpSource(pattern: string): string {
  const chars = Array.from(pattern);
  let out = '';
  let i = 0;
  while (i < chars.length) {
    const c = chars[i]!;
    i++;
    if (c === '*') {
      out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '\\') {
      const next = chars[i];
      if (next === undefined) throw new GlobSyntaxError(`"${pattern}" ends with an unfinished escape "\\"`);
      i++;
      out += escapeRegExpChar(next);
    } else if (c === '[') {
      let cls = '';
      if (chars[i] === '^') {
        cls += '^';
        i++;
      }
      let ranges = 0;
      for (;;) {
        const lo = readClassChar(chars, i, pattern);
        if (lo === null) {
          // A ']' right after '[' (or '[^') closes an empty class, which Go rejects.
          if (chars[i] === ']' && ranges > 0) {
            i++;
            break;
          }
          if (chars[i] === undefined) throw new GlobSyntaxError(`"${pattern}" has an unclosed "["`);
          throw new GlobSyntaxError(`"${pattern}" has an empty or malformed character class`);
        }
        i = lo.next;
        if (chars[i] === '-') {
          const hi = readClassChar(chars, i + 1, pattern);
          if (hi === null) throw new GlobSyntaxError(`"${pattern}" has an unfinished range in a character class`);
          if (hi.char.codePointAt(0)! < lo.char.codePointAt(0)!) {
            throw new GlobSyntaxError(`"${pattern}" has a reversed range ${lo.char}-${hi.char}`);
          }
          i = hi.next;
          cls += `${escapeClassChar(lo.char)}-${escapeClassChar(hi.char)}`;
        } else {
          cls += escapeClassChar(lo.char);
        }
        ranges++;
      }
      out += `[${cls}]`;
    } else {
      out += escapeRegExpChar(c);
    }
  }
  return out;
}

/** One character of a class: a plain character (not '-' or ']') or an escaped one; null at ']' or '-' or end. */
function readClassChar(chars: readonly string[], i: number, pattern: string): { char: string; next: number } | null {
  const c = chars[i];
  if (c === undefined || c === ']' || c === '-') return null;
  if (c === '\\') {
    const next = chars[i + 1];
    if (next === undefined) throw new GlobSyntaxError(`"${pattern}" ends with an unfinished escape "\\"`);
    return { char: next, next: i + 2 };
  }
  return { char: c, next: i + 1 };
}

/**
 * Compiles patterns (assumed valid: check with globProblem first) into one matcher. The common shapes take
 * fast paths — literal topics are a Set lookup and `prefix.*` a startsWith — and only the rest share one
 * RegExp, so a rule costs tens of nanoseconds to reject.
 */
export function compileTopicMatcher(patterns: readonly string[]): TopicMatcher {
  const exact: string[] = [];
  const prefixes: string[] = [];
  const complex: string[] = [];
  // The literal text before the first wildcard of each complex pattern: a topic that starts with none of
  // them cannot match, which saves the RegExp for nearly every topic.
  const complexHeads: string[] = [];
  for (const raw of patterns) {
    const p = raw.trim();
    const lower = p.toLowerCase();
    if (!META.test(p)) {
      exact.push(lower);
    } else if (p.endsWith('*') && !META.test(p.slice(0, -1))) {
      prefixes.push(lower.slice(0, -1));
    } else {
      complex.push(globToRegExpSource(p));
      complexHeads.push(lower.slice(0, lower.search(META)));
    }
  }
  const exactSet = exact.length > 8 ? new Set(exact) : null;
  const re = complex.length === 0 ? null : new RegExp(`^(?:${complex.join('|')})$`, 'iu');
  return {
    patterns: Object.freeze([...patterns]),
    test(topic: string): boolean {
      if (exactSet !== null) {
        if (exactSet.has(topic)) return true;
      } else {
        for (let i = 0; i < exact.length; i++) if (exact[i] === topic) return true;
      }
      for (let i = 0; i < prefixes.length; i++) {
        const prefix = prefixes[i]!;
        // `*` never crosses '/', as in path.Match.
        if (topic.startsWith(prefix) && topic.indexOf('/', prefix.length) === -1) return true;
      }
      if (re === null) return false;
      for (let i = 0; i < complexHeads.length; i++) if (topic.startsWith(complexHeads[i]!)) return re.test(topic);
      return false;
    },
  };
}
