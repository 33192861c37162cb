// Where cordumctl writes: results on stdout (what scripts parse), messages and progress on stderr.

type Stream = { write(chunk: string | Uint8Array): unknown; readonly isTTY?: boolean | undefined; readonly columns?: number | undefined };

export type Terminal = {
  /** A result line on stdout. */
  out(text: string): void;
  /** Bytes or text on stdout as they are (no newline added): `artifact get` writes content this way. */
  outRaw(chunk: string | Uint8Array): void;
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
    outRaw: (chunk) => void stdout.write(chunk),
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
    outRaw: (chunk) => void (out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')),
    err: (text) => void (err += text.endsWith('\n') ? text : `${text}\n`),
    errRaw: (chunk) => void (err += chunk),
    stdoutIsTTY: options.tty === true,
    stderrIsTTY: options.tty === true,
    columns: options.columns ?? 80,
    stdout: () => out,
    stderr: () => err,
  };
}
