#!/usr/bin/env node
// The `cordumctl` command. Everything it does is in ../cli; this file binds it to the process: the environment,
// stdout/stderr, Ctrl-C, and the exit code.
import { runCli } from '../cli/run.js';
import { loadCliEnv } from '../config.js';
import { EXIT } from '../exit-codes.js';
import { createTerminal } from '../output/terminal.js';

const interrupt = new AbortController();
process.on('SIGINT', () => {
  // The first Ctrl-C stops a wait cleanly (exit 130, after the poll in flight); a command that is not waiting,
  // or a poll that hangs, is ended 2 s later; a second Ctrl-C exits at once.
  if (interrupt.signal.aborted) process.exit(EXIT.interrupted);
  interrupt.abort();
  setTimeout(() => process.exit(EXIT.interrupted), 2_000).unref();
});

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

const terminal = createTerminal();
try {
  const code = await runCli(process.argv.slice(2), { terminal, env: loadCliEnv(), cwd: process.cwd(), interrupt: interrupt.signal, readStdin });
  process.exitCode = code;
} catch (err) {
  terminal.err(`cordumctl: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = EXIT.error;
}
