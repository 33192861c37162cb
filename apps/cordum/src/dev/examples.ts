import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { InvalidError } from '@cordum/core';

// Where `cordum dev` finds the demo assets it loads unless --no-examples: examples/demo (policy, pools,
// timeouts) and the echo worker module of examples/echo-worker. cordum is an app of this repository, so
// they are found from this file's place in it (src/dev or dist/dev, four levels below the root).

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

// Run from TypeScript sources (tests), the worker module is the source file too; run from dist, the built one.
const FROM_SOURCE = import.meta.url.endsWith('.ts');

export type ExampleAssets = {
  readonly policy: string;
  readonly pools: string;
  readonly timeouts: string;
  /** The echo worker as a worker module, serving job.demo.echo and job.demo.approval. */
  readonly worker: string;
};

export function exampleAssets(root: string = REPO_ROOT): ExampleAssets {
  return {
    policy: `${root}examples/demo/policy.yaml`,
    pools: `${root}examples/demo/pools.yaml`,
    timeouts: `${root}examples/demo/timeouts.yaml`,
    worker: FROM_SOURCE ? `${root}examples/echo-worker/src/demo-worker.ts` : `${root}examples/echo-worker/dist/demo-worker.js`,
  };
}

/** Fails with what to do when an asset is missing (the worker module is missing until the first build). */
export async function checkExampleAssets(assets: ExampleAssets): Promise<void> {
  for (const [what, path] of Object.entries(assets)) {
    try {
      await access(path);
    } catch {
      const fix =
        what === 'worker'
          ? 'build it first (`npx tsc -b apps/cordum`, which `npm start` runs for you)'
          : 'restore examples/demo from the repository';
      throw new InvalidError(`example ${what} not found at ${path}: ${fix}, or run with --no-examples`, { code: 'config_invalid' });
    }
  }
}
