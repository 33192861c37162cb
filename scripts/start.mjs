// `npm start`: build what `cordum dev` and `cordumctl` need (npm ci does not compile TypeScript), then run `cordum dev` with
// the examples loaded (demo policy and pools, the echo worker in-process). Arguments after `npm start --` are
// passed to `cordum dev`, e.g. `npm start -- --nats nats://127.0.0.1:4222 --redis redis://127.0.0.1:6379`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cordum = join(root, 'apps', 'cordum', 'dist', 'bin', 'cordum.js');

function tscPath() {
  try {
    return createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
  } catch {
    console.error('npm start: TypeScript is not installed; run `npm ci` first (with dev dependencies).');
    process.exit(1);
  }
}

/** tsc -b apps/cordum apps/cli (incremental: only what changed), printing each project as it is built. */
function build() {
  const fresh = !existsSync(cordum);
  console.log(`cordum: building (tsc -b apps/cordum apps/cli)${fresh ? '; the first build takes a while' : ''}…`);
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [tscPath(), '-b', '--verbose', '--pretty', 'false', join(root, 'apps', 'cordum'), join(root, 'apps', 'cli')], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let pending = '';
    const problems = [];
    const onData = (chunk) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const raw of lines) {
        const line = raw.trimEnd();
        const building = /Building project '(.+)'\.\.\./.exec(line);
        if (building) console.log(`  building ${relative(root, dirname(building[1])) || '.'}`);
        else if (/error TS\d+/.test(line) || (problems.length > 0 && line.startsWith(' '))) problems.push(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (err) => {
      console.error(`npm start: cannot run tsc: ${err.message}`);
      resolve(false);
    });
    child.once('exit', (code) => {
      onData('\n');
      if (code === 0) {
        console.log(`cordum: built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        resolve(true);
      } else {
        for (const p of problems) console.error(p);
        console.error(`npm start: the build failed (tsc exit ${code}); fix the errors above or run \`npx tsc -b apps/cordum apps/cli\``);
        resolve(false);
      }
    });
  });
}

if (!(await build())) process.exit(1);

// Run cordum in this process (one process to signal: Ctrl-C drains the workers and stops every service).
process.argv = [process.argv[0], cordum, 'dev', ...process.argv.slice(2)];
await import(pathToFileURL(cordum).href);
