import { describe, expect, it } from 'vitest';
import { createMemoryOutput } from '../output.js';
import { DEV_DEFAULTS } from '../dev/options.js';
import { parseListenAddress } from './address.js';
import { type CliCommand, parseCli } from './parse.js';

function parse(args: string[], env: { logLevel?: 'info' | 'debug' } = {}) {
  const output = createMemoryOutput();
  const command = parseCli(args, { output, env: { logLevel: env.logLevel } });
  return { command, output };
}

function dev(command: CliCommand) {
  if (command.kind !== 'dev') throw new Error(`expected dev, got ${command.kind}`);
  return command.options;
}

describe('cordum dev flags', () => {
  it('defaults: memory backends, examples, localhost ports, warn logs', () => {
    const options = dev(parse(['dev']).command);
    expect(options).toEqual({
      nats: undefined,
      redis: undefined,
      redisPrefix: 'cordum:',
      workers: [],
      policy: undefined,
      pools: undefined,
      timeouts: undefined,
      httpAddr: { host: '127.0.0.1', port: 8081 },
      grpcAddr: { host: '127.0.0.1', port: 8080 },
      kernelAddr: { host: '127.0.0.1', port: 50051 },
      metricsAddr: { host: '127.0.0.1', port: 9090 },
      examples: true,
      logLevel: 'warn',
      drainTimeoutMs: DEV_DEFAULTS.drainTimeoutMs,
    });
  });

  it('reads every flag; --worker repeats; addresses take host:port, :port and port', () => {
    const options = dev(
      parse([
        'dev',
        '--nats', 'nats://a:4222, nats://b:4222',
        '--redis', 'redis://r:6379/2',
        '--redis-prefix', 'dev:',
        '-w', './one.js',
        '--worker', '/abs/two.mjs',
        '--policy', 'p.yaml',
        '--pools', 'pools.yaml',
        '--timeouts', 'timeouts.yaml',
        '--http-addr', ':18081',
        '--grpc-addr', '0.0.0.0:18080',
        '--kernel-addr', '15051',
        '--metrics-addr', 'off',
        '--no-examples',
        '--log-level', 'debug',
        '--drain-timeout', '2500',
      ]).command,
    );
    expect(options).toMatchObject({
      nats: ['nats://a:4222', 'nats://b:4222'],
      redis: 'redis://r:6379/2',
      redisPrefix: 'dev:',
      workers: ['./one.js', '/abs/two.mjs'],
      policy: 'p.yaml',
      pools: 'pools.yaml',
      timeouts: 'timeouts.yaml',
      httpAddr: { host: '0.0.0.0', port: 18081 },
      grpcAddr: { host: '0.0.0.0', port: 18080 },
      kernelAddr: { host: '127.0.0.1', port: 15051 },
      metricsAddr: null,
      examples: false,
      logLevel: 'debug',
      drainTimeoutMs: 2500,
    });
  });

  it('takes the log level from CORDUM_LOG_LEVEL unless --log-level says', () => {
    expect(dev(parse(['dev'], { logLevel: 'info' }).command).logLevel).toBe('info');
    expect(dev(parse(['dev', '--log-level', 'debug'], { logLevel: 'info' }).command).logLevel).toBe('debug');
  });

  it('port 0 is allowed on every listener (tests pick free ports) and never counts as a clash', () => {
    const options = dev(parse(['dev', '--http-addr', '0', '--grpc-addr', '0', '--kernel-addr', '127.0.0.1:0', '--metrics-addr', ':0']).command);
    expect([options.httpAddr.port, options.grpcAddr.port, options.kernelAddr.port, options.metricsAddr?.port]).toEqual([0, 0, 0, 0]);
  });

  it('reports every problem at once and exits 2', () => {
    const { command, output } = parse([
      'dev',
      '--nats', 'http://x',
      '--kernel-addr', 'nope',
      '--http-addr', '9000',
      '--grpc-addr', '9000',
      '--no-examples',
      '--drain-timeout', 'soon',
    ]);
    expect(command).toEqual({ kind: 'exit', code: 2 });
    const text = output.errors.join('\n');
    expect(text).toContain('--nats: expected nats:// or tls://');
    expect(text).toContain('--nats and --redis go together');
    expect(text).toContain('--kernel-addr must be host:port');
    expect(text).toContain('--grpc-addr and --http-addr both use port 9000');
    expect(text).toContain('--no-examples needs --policy FILE');
    expect(text).toContain('--drain-timeout: expected milliseconds');
  });

  it('--no-examples needs a policy, and routing unless the store may already hold it', () => {
    const memory = parse(['dev', '--no-examples', '--policy', 'p.yaml']);
    expect(memory.command).toEqual({ kind: 'exit', code: 2 });
    expect(memory.output.errors.join('\n')).toContain('--no-examples needs --pools FILE on the memory backends');
    expect(dev(parse(['dev', '--no-examples', '--policy', 'p.yaml', '--pools', 'x.yaml']).command).examples).toBe(false);
    const servers = ['--nats', 'nats://127.0.0.1:4222', '--redis', 'redis://127.0.0.1:6379'];
    expect(dev(parse(['dev', '--no-examples', '--policy', 'p.yaml', ...servers]).command).pools).toBeUndefined();
  });

  it('--redis without --nats is refused (one backend or the other)', () => {
    const { command, output } = parse(['dev', '--redis', 'redis://127.0.0.1:6379']);
    expect(command).toEqual({ kind: 'exit', code: 2 });
    expect(output.errors.join('\n')).toContain('--nats and --redis go together');
  });

  it('unknown flags and bad choices are usage errors (exit 2, message on stderr)', () => {
    const unknown = parse(['dev', '--bogus']);
    expect(unknown.command).toEqual({ kind: 'exit', code: 2 });
    expect(unknown.output.errors.join('\n')).toContain("unknown option '--bogus'");
    const level = parse(['dev', '--log-level', 'loud']);
    expect(level.command).toEqual({ kind: 'exit', code: 2 });
    expect(level.output.errors.join('\n')).toContain('Allowed choices are trace, debug, info, warn, error, silent');
    expect(parse(['dev', '--policy']).command).toEqual({ kind: 'exit', code: 2 });
  });
});

describe('cordum start', () => {
  it('takes one or more service names', () => {
    expect(parse(['start', 'scheduler']).command).toEqual({ kind: 'start', services: ['scheduler'] });
    expect(parse(['start', 'safety-kernel', 'scheduler', 'gateway']).command).toEqual({
      kind: 'start',
      services: ['safety-kernel', 'scheduler', 'gateway'],
    });
  });

  it('refuses unknown, repeated and missing names', () => {
    const unknown = parse(['start', 'scheduler', 'worklow-engine']);
    expect(unknown.command).toEqual({ kind: 'exit', code: 2 });
    expect(unknown.output.errors.join('\n')).toContain('unknown service "worklow-engine": choose from gateway, scheduler, safety-kernel');
    const twice = parse(['start', 'scheduler', 'scheduler']);
    expect(twice.output.errors.join('\n')).toContain('service named twice: scheduler');
    expect(parse(['start']).command).toEqual({ kind: 'exit', code: 2 });
  });
});

describe('help and version', () => {
  it('print on stdout and exit 0', () => {
    const help = parse(['--help']);
    expect(help.command).toEqual({ kind: 'exit', code: 0 });
    expect(help.output.lines.join('\n')).toMatch(/Usage: cordum/);
    const devHelp = parse(['dev', '--help']);
    expect(devHelp.output.lines.join('\n')).toContain('--no-examples');
    const version = parse(['--version']);
    expect(version.command).toEqual({ kind: 'exit', code: 0 });
    expect(version.output.lines).toEqual(['0.1.0']);
  });

  it('no command prints the help as an error', () => {
    const none = parse([]);
    expect(none.command).toEqual({ kind: 'exit', code: 2 });
    expect(none.output.errors.join('\n')).toMatch(/Usage: cordum/);
  });
});

describe('listen addresses', () => {
  it('parses the accepted forms', () => {
    expect(parseListenAddress('localhost:80', '--x')).toEqual({ host: 'localhost', port: 80 });
    expect(parseListenAddress('[::1]:9090', '--x')).toEqual({ host: '::1', port: 9090 });
    expect(parseListenAddress(' 8081 ', '--x')).toEqual({ host: '127.0.0.1', port: 8081 });
    expect(parseListenAddress(':8081', '--x')).toEqual({ host: '0.0.0.0', port: 8081 });
  });

  it('names the flag in every refusal', () => {
    for (const bad of ['', 'host', 'host:', 'host:65536', 'a:b:c', 'host:-1', ' :12x']) {
      expect(() => parseListenAddress(bad, '--metrics-addr')).toThrow(/--metrics-addr/);
    }
  });
});
