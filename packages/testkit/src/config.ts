import { env, loadConfig } from '@cordum/core';

// The only place the test kit reads the environment.
const spec = {
  path: env.string('PATH', { default: '', description: 'Where redis-server and nats-server are looked up' }),
  redisServer: env.string('CORDUM_TEST_REDIS_SERVER', {
    description: 'Explicit path of the redis-server binary (overrides PATH lookup)',
  }),
  natsServer: env.string('CORDUM_TEST_NATS_SERVER', {
    description: 'Explicit path of the nats-server binary (overrides PATH lookup)',
  }),
};

export type TestkitConfig = ReturnType<typeof loadTestkitConfig>;

export function loadTestkitConfig(source: Readonly<Record<string, string | undefined>> = process.env) {
  return loadConfig(spec, source);
}
