import type { Command } from 'commander';
import type { ExitCode } from '../exit-codes.js';
import type { App, GlobalFlags } from './app.js';

/**
 * How a command file hooks into the program: `host.run(cmd, async (app) => …)` inside a commander action.
 * The app is built from the global flags when the command runs; the returned code (default 0) is the exit code.
 */
export type CommandHost = {
  run(cmd: Command, fn: (app: App) => Promise<ExitCode | void>): Promise<void>;
};

/** One command group (`job`, `dlq`, …): one file under commands/, registered in commands/index.ts. */
export type RegisterGroup = (program: Command, host: CommandHost) => void;

/** The global flags of the root command, seen from any subcommand. */
export function globalFlags(cmd: Command): GlobalFlags {
  return cmd.optsWithGlobals<GlobalFlags>();
}
