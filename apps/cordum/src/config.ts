import { type EnvSource, env, loadConfig } from '@cordum/core';

// The only place the cordum command reads the environment. `cordum start` services read their own variables
// through their own config loaders; these are the command's defaults for `cordum dev`.
export const CORDUM_ENV = {
  logLevel: env.enum('CORDUM_LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'silent'], {
    description: 'Log level of the services in `cordum dev` (default warn; --log-level wins)',
  }),
};

export type CordumEnv = ReturnType<typeof loadCordumEnv>;

export function loadCordumEnv(source: EnvSource = process.env) {
  return loadConfig(CORDUM_ENV, source);
}
