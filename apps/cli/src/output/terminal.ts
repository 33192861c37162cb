// Where cordumctl writes: results on stdout (what scripts parse), messages and progress on stderr.

type Stream = { write(chunk: string): unknown; readonly isTTY?: boolean | undefined; readonly columns?: number | undefined };

export type Terminal = {
  /** A result line on stdout. */
  out(text: string): void;
  /** A message or progress line on stderr. */
  err(text: string): void;
  /** Raw stderr write (the spinner rewrites its line). */
  errRaw(chunk: string): void;
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;
  readonly columns: number;
};

export function createTerminal(streams: { stdout: Stream; stderr: Stream } = { stdout: process.stdout, stderr: process.stderr }): Terminal {
  const { stdout, stderr } = streams;
  return {
    out: (text) => void stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => void stderr.write(text.endsWith('\n') ? text : `${text}\n`),
    errRaw: (chunk) => void stderr.write(chunk),
    stdoutIsTTY: stdout.isTTY === true,
    stderrIsTTY: stderr.isTTY === true,
    columns: stderr.columns ?? stdout.columns ?? 80,
  };
}

/** A Terminal that keeps what was written (tests), optionally pretending to be a TTY. */
export function createMemoryTerminal(options: { tty?: boolean; columns?: number } = {}): Terminal & {
  readonly stdout: () => string;
  readonly stderr: () => string;
} {
  let out = '';
  let err = '';
  return {
    out: (text) => void (out += text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => void (err += text.endsWith('\n') ? text : `${text}\n`),
    errRaw: (chunk) => void (err += chunk),
    stdoutIsTTY: options.tty === true,
    stderrIsTTY: options.tty === true,
    columns: options.columns ?? 80,
    stdout: () => out,
    stderr: () => err,
  };
}
