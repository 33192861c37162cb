// @cordum/testkit (private): real servers for integration tests and one contract suite per port.
export {
  type NatsServer,
  type RedisServer,
  findBinary,
  freePort,
  startNats,
  startRedis,
} from './servers.js';
export {
  type PortFactory,
  type PortFixture,
  memoryFactory,
  redisFactory,
  uniquePrefix,
} from './contracts/fixture.js';
