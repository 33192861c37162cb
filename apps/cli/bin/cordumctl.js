#!/usr/bin/env node
// The `cordumctl` bin: a committed launcher, so `npm ci` can link it before anything is compiled. It runs the
// built command (dist/bin/cordumctl.js) and says how to build it when it is not there yet.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const built = fileURLToPath(new URL('../dist/bin/cordumctl.js', import.meta.url));
if (!existsSync(built)) {
  process.stderr.write('cordumctl is not built yet: run `npx tsc -b apps/cli` at the repository root\n');
  process.exit(1);
}
await import(pathToFileURL(built).href);
