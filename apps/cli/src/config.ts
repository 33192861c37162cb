import { homedir } from 'node:os';
import { type ConfigOf, type EnvSource, env, loadConfig } from '@cordum/core/config';

// The only place cordumctl reads the environment. Everything else gets these values passed in.
export const CLI_ENV = {
  gateway: env.string('CORDUM_GATEWAY', { description: 'Gateway base URL (default http://localhost:8081; --gateway wins)' }),
  apiKey: env.string('CORDUM_API_KEY', { description: 'API key sent as X-API-Key (--api-key wins)' }),
  configFile: env.string('CORDUM_CONFIG', {
    description: 'Contexts file (default $XDG_CONFIG_HOME/cordum/config.yaml, else ~/.config/cordum/config.yaml)',
  }),
  xdgConfigHome: env.string('XDG_CONFIG_HOME', { description: 'Base directory of the default contexts file' }),
};

export type CliEnv = ConfigOf<typeof CLI_ENV> & {
  /** NO_COLOR is set to anything non-empty (https://no-color.org): never colour. */
  readonly noColor: boolean;
  readonly home: string;
};

export function loadCliEnv(source: EnvSource = process.env): CliEnv {
  return {
    ...loadConfig(CLI_ENV, source),
    noColor: (source['NO_COLOR'] ?? '') !== '',
    home: source['HOME'] ?? homedir(),
  };
}
