import { type Logger, createLogger, isCordumError, toError } from '@cordum/core';
import type { CordumEnv } from '../config.js';
import { devBanner } from '../dev/banner.js';
import type { DevOptions } from '../dev/options.js';
import { startDevPlatform } from '../dev/platform.js';
import type { Output } from '../output.js';
import { startServices } from '../start/services.js';
import { parseCli } from './parse.js';
import { type SignalSource, stopOnSignals } from './signals.js';

/** The line `cordum dev` prints once it serves (tests and scripts wait for it). */
export const DEV_READY_LINE = 'cordum dev ready';
export const START_READY_LINE = 'cordum start ready';

export type CliDeps = {
  output: Output;
  env: CordumEnv;
  cwd: string;
  exit: (code: number) => void;
  signals?: SignalSource;
  /** Where service logs go in `cordum dev` (default stderr, leaving stdout to the progress lines). */
  logDestination?: { write(line: string): unknown };
};

function report(output: Output, err: unknown): void {
  const e = toError(err);
  output.error(`cordum: ${e.message}`);
  const problems = isCordumError(e) ? e.details['problems'] : undefined;
  if (Array.isArray(problems) && !e.message.includes(String(problems[0]))) {
    for (const p of problems) output.error(`  - ${String(p)}`);
  }
}

async function runDev(options: DevOptions, deps: CliDeps): Promise<void> {
  const logger: Logger = createLogger({
    name: 'cordum-dev',
    level: options.logLevel,
    destination: deps.logDestination ?? process.stderr,
  });
  const platform = await startDevPlatform({ options, cwd: deps.cwd, output: deps.output, logger });
  for (const line of devBanner(platform, { cwd: deps.cwd, kernelAddr: options.kernelAddr, metricsAddr: options.metricsAddr })) {
    deps.output.line(line);
  }
  deps.output.line(DEV_READY_LINE);
  stopOnSignals(() => platform.stop(), { output: deps.output, exit: deps.exit, ...(deps.signals === undefined ? {} : { source: deps.signals }) });
}

/**
 * Runs the command line (the arguments after `cordum`). Resolves once the command is running (dev and start
 * keep the process alive until a signal) or has finished; exit is called with the code when it is done.
 */
export async function runCli(args: readonly string[], deps: CliDeps): Promise<void> {
  const command = parseCli(args, { output: deps.output, env: deps.env });
  const signalDeps = { output: deps.output, exit: deps.exit, ...(deps.signals === undefined ? {} : { source: deps.signals }) };
  switch (command.kind) {
    case 'exit':
      deps.exit(command.code);
      return;
    case 'dev':
      try {
        await runDev(command.options, deps);
      } catch (err) {
        report(deps.output, err);
        deps.exit(1);
      }
      return;
    case 'start':
      try {
        const running = await startServices(command.services, deps.output);
        deps.output.line(START_READY_LINE);
        stopOnSignals(() => running.stop(), signalDeps);
      } catch (err) {
        report(deps.output, err);
        deps.exit(1);
      }
      return;
  }
}
