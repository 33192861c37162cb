// ANSI colours, only when the stream is a terminal and NO_COLOR is not set (https://no-color.org).

export type Style = {
  readonly enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
  /** Colours a job or run state by what it means (succeeded green, failed red, waiting yellow). */
  state(state: string): string;
};

const wrap = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`;

const GOOD = new Set(['SUCCEEDED', 'succeeded', 'ALLOW', 'PASS', 'ok']);
const BAD = new Set(['FAILED', 'DENIED', 'TIMEOUT', 'CANCELLED', 'failed', 'cancelled', 'timed_out', 'DENY', 'FAIL']);
const WAITING = new Set(['APPROVAL_REQUIRED', 'waiting', 'REQUIRE_APPROVAL', 'REQUIRE_HUMAN', 'THROTTLE']);

export function createStyle(enabled: boolean): Style {
  const id = (text: string): string => text;
  const bold = enabled ? wrap(1, 22) : id;
  const dim = enabled ? wrap(2, 22) : id;
  const red = enabled ? wrap(31, 39) : id;
  const green = enabled ? wrap(32, 39) : id;
  const yellow = enabled ? wrap(33, 39) : id;
  const cyan = enabled ? wrap(36, 39) : id;
  return {
    enabled,
    bold,
    dim,
    red,
    green,
    yellow,
    cyan,
    state: (s) => (GOOD.has(s) ? green(s) : BAD.has(s) ? red(s) : WAITING.has(s) ? yellow(s) : s),
  };
}

/** Colour on a stream only if it is a TTY and NO_COLOR is unset. */
export function colourWanted(isTTY: boolean, noColor: boolean): boolean {
  return isTTY && !noColor;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

/** Printed width of a string that may carry ANSI colour codes. */
export function visibleLength(text: string): number {
  return [...text.replace(ANSI, '')].length;
}
