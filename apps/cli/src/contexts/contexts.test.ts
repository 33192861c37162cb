import { describe, expect, it } from 'vitest';
import { CliError } from '../errors.js';
import { DEFAULT_GATEWAY, contextsPath, parseContexts, resolveTarget, serializeContexts } from './contexts.js';

const file = parseContexts(
  `current-context: local
contexts:
  local: { gateway: "http://127.0.0.1:8081/" }
  prod: { gateway: https://cordum.example.com, api-key: prod-key }
  keyonly: { api-key: only-key }
`,
  'config.yaml',
);

describe('contexts file', () => {
  it('parses, normalises the gateway URL and round-trips', () => {
    expect(file).toEqual({
      currentContext: 'local',
      contexts: {
        local: { gateway: 'http://127.0.0.1:8081' },
        prod: { gateway: 'https://cordum.example.com', apiKey: 'prod-key' },
        keyonly: { apiKey: 'only-key' },
      },
    });
    expect(parseContexts(serializeContexts(file), 'x')).toEqual(file);
    expect(parseContexts('', 'x')).toEqual({ currentContext: undefined, contexts: {} });
  });

  it('refuses what it does not understand, naming the file and the key', () => {
    for (const [text, message] of [
      ['contexts: [a]', /x: contexts must be a map/],
      ['current: a', /x: unknown key "current" \(expected current-context, contexts\)/],
      ['contexts: { a: { gateway: "not a url" } }', /x: contexts\.a\.gateway: "not a url" is not a URL/],
      ['contexts: { a: { api-key: 12 } }', /contexts\.a\.api-key must be a string/],
      ['contexts: { "a b": {} }', /context name "a b" is not valid/],
      ['contexts: {', /x: not valid YAML/],
    ] as const) {
      expect(() => parseContexts(text, 'x'), text).toThrow(message);
    }
  });

  it('lives at CORDUM_CONFIG, else under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(contextsPath({ configFile: '/c.yaml', xdgConfigHome: '/x', home: '/h' })).toBe('/c.yaml');
    expect(contextsPath({ configFile: undefined, xdgConfigHome: '/x', home: '/h' })).toBe('/x/cordum/config.yaml');
    expect(contextsPath({ configFile: undefined, xdgConfigHome: undefined, home: '/h' })).toBe('/h/.config/cordum/config.yaml');
  });
});

describe('which gateway and key a command uses', () => {
  const noEnv = { gateway: undefined, apiKey: undefined };
  const env = { gateway: 'http://env:1', apiKey: 'env-key' };

  it('flag, then --context, then the environment, then the current context, then the default', () => {
    expect(resolveTarget({}, noEnv, { currentContext: undefined, contexts: {} })).toEqual({ gateway: DEFAULT_GATEWAY, apiKey: undefined, context: undefined });
    expect(resolveTarget({}, noEnv, file)).toEqual({ gateway: 'http://127.0.0.1:8081', apiKey: undefined, context: 'local' });
    expect(resolveTarget({}, env, file)).toMatchObject({ gateway: 'http://env:1', apiKey: 'env-key' });
    expect(resolveTarget({ context: 'prod' }, env, file)).toEqual({ gateway: 'https://cordum.example.com', apiKey: 'prod-key', context: 'prod' });
    expect(resolveTarget({ context: 'keyonly' }, env, file)).toMatchObject({ gateway: 'http://env:1', apiKey: 'only-key' });
    expect(resolveTarget({ context: 'prod', gateway: 'http://flag:2/', apiKey: 'flag-key' }, env, file)).toMatchObject({
      gateway: 'http://flag:2',
      apiKey: 'flag-key',
    });
  });

  it('an unknown --context or a bad URL is a usage error', () => {
    const err = (() => {
      try {
        resolveTarget({ context: 'nope' }, noEnv, file);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(CliError);
    expect(err).toMatchObject({ exitCode: 2, message: '--context: no context named "nope"', hint: 'known contexts: local, prod, keyonly' });
    expect(() => resolveTarget({ gateway: 'localhost:8081' }, noEnv, file)).toThrow(/--gateway: "localhost:8081" must be an http/);
  });
});
