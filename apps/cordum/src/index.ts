// @cordum/cordum: the `cordum` command (bin/cordum.ts) and its parts, for tests and other composition roots.
export { type ListenAddress, formatAddress, parseListenAddress } from './cli/address.js';
export { CORDUM_VERSION, type CliCommand, devOptionsFromFlags, parseCli } from './cli/parse.js';
export { type CliDeps, DEV_READY_LINE, START_READY_LINE, runCli } from './cli/run.js';
export { CORDUM_ENV, type CordumEnv, loadCordumEnv } from './config.js';
export { DEV_DEFAULTS, type DevOptions, LOG_LEVELS, type LogLevel } from './dev/options.js';
export { type DevPlatform, type DevPlatformDeps, type DevWorkerInfo, startDevPlatform } from './dev/platform.js';
export { type ExampleAssets, exampleAssets } from './dev/examples.js';
export { type DevGateway, type GatewayWiring, gatewayFirstCommands } from './gateway.js';
export { type Output, createMemoryOutput, createOutput } from './output.js';
export { SERVICE_NAMES, type ServiceName, startServices } from './start/services.js';
export {
  WORKER_MODULE_EXPORT,
  type WorkerModule,
  type WorkerModuleContext,
  type WorkerModuleFactory,
  createModuleWorkers,
  loadWorkerModule,
  workerFactoryOf,
} from './workers/loader.js';
