#!/usr/bin/env node
// The `cordum` bin: a committed launcher, so `npm ci` can link it before anything is compiled. It runs the
// built command (dist/bin/cordum.js) and says how to build it when it is not there yet.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const built = fileURLToPath(new URL('../dist/bin/cordum.js', import.meta.url));
if (!existsSync(built)) {
  process.stderr.write('cordum is not built yet: run `npx tsc -b apps/cordum` at the repository root (`npm start` does it for you)\n');
  process.exit(1);
}
await import(pathToFileURL(built).href);
