import { Command, CommanderError, Option } from 'commander';
import { isCordumError, toError } from '@cordum/core/errors';
import { COMMAND_GROUPS } from '../commands/index.js';
import { CliError } from '../errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { OUTPUT_FORMATS } from '../output/format.js';
import { createStyle, colourWanted } from '../output/style.js';
import { CORDUMCTL_VERSION, type CliDeps, type GlobalFlags, createApp } from './app.js';
import { type CommandHost, globalFlags } from './host.js';

/** The root command with its global flags and every command group. */
export function createProgram(deps: CliDeps, host: CommandHost): Command {
  const { terminal } = deps;
  const program = new Command('cordumctl')
    .description('Operate a Cordum control plane through its gateway: jobs, approvals, the DLQ, workflows and runs, policy, config, schemas, locks, artifacts; test policy offline.')
    .version(CORDUMCTL_VERSION, '-v, --version')
    .option('--gateway <url>', 'gateway base URL (env CORDUM_GATEWAY; default http://localhost:8081)')
    .option('--api-key <key>', 'API key sent as X-API-Key (env CORDUM_API_KEY)')
    .option('--context <name>', 'use this context of the contexts file instead of the current one')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .option('--json', 'shorthand for --output json')
    .option('--no-color', 'no colours (also NO_COLOR=1; colours are only ever used on a terminal)')
    .option('--request-timeout <duration>', 'timeout of each gateway request', '30s')
    .showHelpAfterError('(cordumctl --help for usage)')
    .configureOutput({
      writeOut: (text) => terminal.out(text.replace(/\n$/, '')),
      writeErr: (text) => terminal.err(text.replace(/\n$/, '')),
    })
    .exitOverride();
  program.addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 auth, 5 conflict, 6 unavailable or timed out, 7 job or run failed,\n' +
      '8 policy test failed, 130 interrupted. Every command and flag: docs/cli.md.',
  );
  for (const register of COMMAND_GROUPS) register(program, host);
  // Subcommands report usage errors through the root's output and exit override.
  const inherit = (cmd: Command): void => {
    for (const sub of cmd.commands) {
      sub.exitOverride().configureOutput(program.configureOutput()).showHelpAfterError(`(cordumctl ${commandPath(sub)} --help for usage)`);
      inherit(sub);
    }
  };
  inherit(program);
  return program;
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c !== null && c.parent !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function report(deps: CliDeps, err: unknown, noColorFlag: boolean): ExitCode {
  const style = createStyle(colourWanted(deps.terminal.stderrIsTTY, deps.env.noColor || noColorFlag));
  const prefix = style.red('cordumctl:');
  if (err instanceof CliError) {
    deps.terminal.err(`${prefix} ${err.message}`);
    if (err.hint !== undefined) deps.terminal.err(style.dim(`  ${err.hint}`));
    return err.exitCode;
  }
  if (isCordumError(err) && err.kind === 'invalid') {
    deps.terminal.err(`${prefix} ${err.message} (${err.code})`);
    return EXIT.usage;
  }
  const e = toError(err);
  deps.terminal.err(`${prefix} unexpected error: ${e.message}`);
  return EXIT.error;
}

/**
 * Runs one cordumctl command line (the arguments after `cordumctl`) and resolves with the exit code. Nothing
 * here exits the process or reads the environment: the bin does both.
 */
export async function runCli(args: readonly string[], deps: CliDeps): Promise<ExitCode> {
  let exitCode: ExitCode = EXIT.ok;
  let ran = false;
  const host: CommandHost = {
    run: async (cmd, fn) => {
      ran = true;
      const app = createApp(globalFlags(cmd), deps);
      exitCode = (await fn(app)) ?? EXIT.ok;
    },
  };
  const program = createProgram(deps, host);
  if (args.length === 0) {
    deps.terminal.err(program.helpInformation().replace(/\n$/, ''));
    return EXIT.usage;
  }
  try {
    await program.parseAsync([...args], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version are 0; a group without its subcommand prints help as an error (2), as does any usage error.
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT.ok : EXIT.usage;
    }
    return report(deps, err, program.opts<GlobalFlags>().color === false);
  }
  return ran ? exitCode : EXIT.ok;
}
