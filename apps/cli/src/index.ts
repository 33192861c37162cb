// @cordum/cli: the `cordumctl` command (bin/cordumctl.ts) and its parts, for tests and other tools.
export { type App, CORDUMCTL_VERSION, type CliDeps, type GlobalFlags, createApp } from './cli/app.js';
export { type CommandHost, type RegisterGroup } from './cli/host.js';
export { createProgram, runCli } from './cli/run.js';
export { CLI_ENV, type CliEnv, loadCliEnv } from './config.js';
export {
  type ContextEntry,
  type ContextsFile,
  DEFAULT_GATEWAY,
  type Target,
  contextsPath,
  parseContexts,
  readContexts,
  resolveTarget,
  serializeContexts,
  writeContexts,
} from './contexts/contexts.js';
export { CliError } from './errors.js';
export { EXIT, type ExitCode, exitCodeForStatus } from './exit-codes.js';
export { type GatewayClient, type GatewayClientOptions, createGatewayClient } from './gateway/client.js';
export { type OutputFormat, OUTPUT_FORMATS } from './output/format.js';
export { type Terminal, createMemoryTerminal, createTerminal } from './output/terminal.js';
export { type PolicyTestOptions, type PolicyTestReport, runPolicyTest } from './policy/test-runner.js';
