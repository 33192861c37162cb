import { formatElapsed } from '../output/format.js';
import type { Style } from '../output/style.js';
import type { Terminal } from '../output/terminal.js';

// What a waiting cordumctl shows on stderr. On a terminal: one spinner line rewritten in place with the
// state, the wait reason and the time waited. Otherwise (a pipe, CI logs): one plain line per change.

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export type Progress = {
  /** The subject's current state (and why it waits, if it does). */
  update(state: string, waitReason: string | null | undefined, changed: boolean): void;
  /** A line printed above the spinner (or as is). */
  note(text: string): void;
  /** Stops the spinner and clears its line. */
  stop(): void;
};

export function createProgress(options: {
  terminal: Terminal;
  style: Style;
  /** e.g. `job 0195…` */
  subject: string;
  now: () => number;
  /** Spinner only when true (stderr is a TTY). */
  live: boolean;
}): Progress {
  const { terminal, style, subject, now, live } = options;
  const started = now();
  let state = 'submitted';
  let reason: string | null | undefined;
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;
  let shown = false;

  const text = (): string => {
    const hasWhy = reason !== null && reason !== undefined && reason !== '';
    const elapsed = formatElapsed(now() - started);
    const plain = `${subject} ${state}${hasWhy ? ` (${reason})` : ''} ${elapsed}`;
    // One terminal row at most, or \r would not take the spinner back to its start.
    const room = Math.max(10, terminal.columns - 3);
    if (plain.length > room) return `${plain.slice(0, room - 1)}…`;
    return `${subject} ${style.state(state)}${hasWhy ? ` ${style.dim(`(${reason})`)}` : ''} ${style.dim(elapsed)}`;
  };
  const clear = (): void => {
    if (shown) terminal.errRaw('\r\u001b[2K');
    shown = false;
  };
  const draw = (): void => {
    clear();
    terminal.errRaw(`${style.cyan(FRAMES[frame % FRAMES.length] ?? '')} ${text()}`);
    frame++;
    shown = true;
  };

  return {
    update(s, why, changed) {
      state = s;
      reason = why;
      if (live) {
        if (timer === undefined) {
          timer = setInterval(draw, 100);
          timer.unref();
        }
        draw();
      } else if (changed) {
        terminal.err(`${subject}: ${s}${why === null || why === undefined || why === '' ? '' : ` (${why})`}`);
      }
    },
    note(line) {
      if (live) clear();
      terminal.err(line);
      if (live && timer !== undefined) draw();
    },
    stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      if (live) clear();
    },
  };
}
