// The one place the cordum command writes for humans: progress lines on stdout, problems on stderr. Services
// log JSON through their Logger; this is only the CLI's own voice (banner, URLs, shutdown progress).

export type Output = {
  /** A line for the user (stdout). */
  line(text?: string): void;
  /** A problem (stderr). */
  error(text: string): void;
};

type Writable = { write(chunk: string): unknown };

export function createOutput(streams: { stdout: Writable; stderr: Writable } = { stdout: process.stdout, stderr: process.stderr }): Output {
  return {
    line: (text = '') => void streams.stdout.write(`${text}\n`),
    error: (text) => void streams.stderr.write(`${text}\n`),
  };
}

/** An Output that remembers what was written (tests). */
export function createMemoryOutput(): Output & { readonly lines: string[]; readonly errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, line: (text = '') => void lines.push(text), error: (text) => void errors.push(text) };
}
