#!/usr/bin/env node
// The `cordum` command. Everything it does is in ../cli; this file only binds it to the process.
import { runCli } from '../cli/run.js';
import { loadCordumEnv } from '../config.js';
import { createOutput } from '../output.js';

const output = createOutput();
try {
  await runCli(process.argv.slice(2), { output, env: loadCordumEnv(), cwd: process.cwd(), exit: (code) => process.exit(code) });
} catch (err) {
  output.error(`cordum: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
