import { Command, CommanderError, Option } from 'commander';
import { InvalidError, isCordumError, toError } from '@cordum/core';
import type { CordumEnv } from '../config.js';
import { DEV_DEFAULTS, type DevOptions, LOG_LEVELS, type LogLevel } from '../dev/options.js';
import type { Output } from '../output.js';
import { SERVICE_NAMES, type ServiceName, isServiceName } from '../start/services.js';
import { type ListenAddress, parseListenAddress } from './address.js';

export const CORDUM_VERSION = '0.1.0';

/** What the command line asks for. `exit`: help, version or a usage error was printed; exit with `code`. */
export type CliCommand =
  | { readonly kind: 'dev'; readonly options: DevOptions }
  | { readonly kind: 'start'; readonly services: readonly ServiceName[] }
  | { readonly kind: 'exit'; readonly code: number };

type RawDevFlags = {
  nats?: string;
  redis?: string;
  redisPrefix: string;
  worker?: string[];
  policy?: string;
  pools?: string;
  timeouts?: string;
  httpAddr: string;
  grpcAddr: string;
  kernelAddr: string;
  metricsAddr: string;
  examples: boolean;
  logLevel?: LogLevel;
  drainTimeout: string;
};

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

function program(output: Output, onDev: (flags: RawDevFlags) => void, onStart: (names: string[]) => void): Command {
  const write = (text: string): void => output.line(text.replace(/\n$/, ''));
  const root = new Command('cordum')
    .description('Cordum, the control plane for AI agents: every service in one process, or some of them on NATS and Redis.')
    .version(CORDUM_VERSION, '-v, --version')
    .showHelpAfterError('(cordum --help for usage)')
    .configureOutput({ writeOut: write, writeErr: (text) => output.error(text.replace(/\n$/, '')) })
    .exitOverride();

  root
    .command('dev')
    .description(
      'Run the gateway, the scheduler and the safety kernel in one process, with in-process workers. ' +
        'Memory bus and stores by default (nothing to install, nothing kept); --nats and --redis use real servers.',
    )
    .option('--nats <url>', 'NATS server URL(s), comma-separated (needs --redis)')
    .option('--redis <url>', 'Redis URL (needs --nats)')
    .option('--redis-prefix <prefix>', 'key prefix of every Redis key', DEV_DEFAULTS.redisPrefix)
    .option('-w, --worker <path>', 'load a worker module in-process (repeatable; see README "Worker modules")', collect)
    .option('--policy <file>', 'base policy bundle (default with examples: examples/demo/policy.yaml)')
    .option('--pools <file>', 'bootstrap routing pools (default with examples: examples/demo/pools.yaml)')
    .option('--timeouts <file>', 'bootstrap timeouts (default with examples: examples/demo/timeouts.yaml)')
    .option('--http-addr <addr>', 'gateway HTTP listen address', DEV_DEFAULTS.httpAddr)
    .option('--grpc-addr <addr>', 'gateway gRPC listen address', DEV_DEFAULTS.grpcAddr)
    .option('--kernel-addr <addr>', 'safety kernel gRPC listen address', DEV_DEFAULTS.kernelAddr)
    .option('--metrics-addr <addr>', "Prometheus /metrics and /health listen address ('off' disables)", DEV_DEFAULTS.metricsAddr)
    .option('--no-examples', 'do not load examples/demo and the echo worker')
    .addOption(new Option('--log-level <level>', 'service log level (default: CORDUM_LOG_LEVEL, else warn)').choices(LOG_LEVELS))
    .option('--drain-timeout <ms>', 'how long in-process workers get to finish at shutdown', String(DEV_DEFAULTS.drainTimeoutMs))
    .action((flags: RawDevFlags) => onDev(flags));

  root
    .command('start')
    .description(`Run one or more services in this process on NATS and Redis, each configured by its own environment variables (${SERVICE_NAMES.join(', ')}).`)
    .argument('<service...>', SERVICE_NAMES.join(' | '))
    .action((names: string[]) => onStart(names));

  return root;
}

function splitUrls(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function checkUrl(text: string, flag: string, protocols: readonly string[], problems: string[]): void {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    problems.push(`${flag}: not a URL: ${JSON.stringify(text)}`);
    return;
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (!protocols.includes(scheme)) problems.push(`${flag}: expected ${protocols.map((p) => `${p}://`).join(' or ')}, got ${JSON.stringify(text)}`);
}

/** Validates the dev flags into DevOptions; every problem at once in one InvalidError. */
export function devOptionsFromFlags(flags: RawDevFlags, env: CordumEnv): DevOptions {
  const problems: string[] = [];
  const address = (text: string, flag: string): ListenAddress => {
    try {
      return parseListenAddress(text, flag);
    } catch (err) {
      problems.push(toError(err).message);
      return { host: '127.0.0.1', port: 0 };
    }
  };
  const nats = flags.nats === undefined ? undefined : splitUrls(flags.nats);
  if (nats !== undefined) {
    if (nats.length === 0) problems.push('--nats: no URL given');
    for (const u of nats) checkUrl(u, '--nats', ['nats', 'tls'], problems);
  }
  if (flags.redis !== undefined) checkUrl(flags.redis, '--redis', ['redis', 'rediss'], problems);
  if ((flags.nats === undefined) !== (flags.redis === undefined)) {
    problems.push('--nats and --redis go together: in-process memory backends, or both real servers');
  }
  const listeners: [string, ListenAddress | null][] = [
    ['--http-addr', address(flags.httpAddr, '--http-addr')],
    ['--grpc-addr', address(flags.grpcAddr, '--grpc-addr')],
    ['--kernel-addr', address(flags.kernelAddr, '--kernel-addr')],
    ['--metrics-addr', flags.metricsAddr.trim() === 'off' ? null : address(flags.metricsAddr, '--metrics-addr')],
  ];
  const seen = new Map<number, string>();
  for (const [flag, a] of listeners) {
    if (a === null || a.port === 0) continue;
    const other = seen.get(a.port);
    if (other !== undefined) problems.push(`${flag} and ${other} both use port ${a.port}`);
    seen.set(a.port, flag);
  }
  const drain = /^\d+$/.test(flags.drainTimeout.trim()) ? Number(flags.drainTimeout.trim()) : Number.NaN;
  if (!Number.isSafeInteger(drain)) problems.push(`--drain-timeout: expected milliseconds, got ${JSON.stringify(flags.drainTimeout)}`);
  if (!flags.examples && flags.policy === undefined) {
    problems.push('--no-examples needs --policy FILE: cordum dev never runs without a policy (it does not allow by default)');
  }
  if (!flags.examples && flags.pools === undefined && flags.nats === undefined) {
    problems.push('--no-examples needs --pools FILE on the memory backends: the scheduler routes topics only by configuration');
  }
  for (const [flag, value] of [['--policy', flags.policy], ['--pools', flags.pools], ['--timeouts', flags.timeouts]] as const) {
    if (value !== undefined && value.trim() === '') problems.push(`${flag}: empty file name`);
  }
  if (flags.redisPrefix.trim() === '') problems.push('--redis-prefix: must not be empty');
  if (problems.length > 0) {
    throw new InvalidError(problems.join('\n'), { code: 'invalid_argument', details: { problems } });
  }
  const [http, grpc, kernel, metrics] = listeners.map(([, a]) => a);
  return {
    nats,
    redis: flags.redis,
    redisPrefix: flags.redisPrefix,
    workers: flags.worker ?? [],
    policy: flags.policy,
    pools: flags.pools,
    timeouts: flags.timeouts,
    httpAddr: http ?? { host: '127.0.0.1', port: 0 },
    grpcAddr: grpc ?? { host: '127.0.0.1', port: 0 },
    kernelAddr: kernel ?? { host: '127.0.0.1', port: 0 },
    metricsAddr: metrics ?? null,
    examples: flags.examples,
    logLevel: flags.logLevel ?? env.logLevel ?? DEV_DEFAULTS.logLevel,
    drainTimeoutMs: drain,
  };
}

function startServiceNames(names: readonly string[]): ServiceName[] {
  const unknown = names.filter((n) => !isServiceName(n));
  if (unknown.length > 0) {
    throw new InvalidError(`unknown service ${unknown.map((n) => JSON.stringify(n)).join(', ')}: choose from ${SERVICE_NAMES.join(', ')}`);
  }
  const dupes = names.filter((n, i) => names.indexOf(n) !== i);
  if (dupes.length > 0) throw new InvalidError(`service named twice: ${[...new Set(dupes)].join(', ')}`);
  return names as ServiceName[];
}

/**
 * Parses the arguments after `cordum` (process.argv.slice(2)). Help, version and usage errors are written to
 * output and come back as `exit`; nothing is started here.
 */
export function parseCli(args: readonly string[], deps: { output: Output; env: CordumEnv }): CliCommand {
  let command: CliCommand | undefined;
  const onDev = (flags: RawDevFlags): void => {
    command = { kind: 'dev', options: devOptionsFromFlags(flags, deps.env) };
  };
  const onStart = (names: string[]): void => {
    command = { kind: 'start', services: startServiceNames(names) };
  };
  try {
    program(deps.output, onDev, onStart).parse([...args], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return { kind: 'exit', code: err.exitCode === 0 ? 0 : 2 };
    if (isCordumError(err) && err.kind === 'invalid') {
      deps.output.error(`cordum: ${err.message.split('\n').join('\ncordum: ')}`);
      return { kind: 'exit', code: 2 };
    }
    throw err;
  }
  if (command === undefined) {
    // `cordum` alone: commander printed nothing; show the help rather than do nothing.
    deps.output.error(program(deps.output, onDev, onStart).helpInformation().replace(/\n$/, ''));
    return { kind: 'exit', code: 1 };
  }
  return command;
}
