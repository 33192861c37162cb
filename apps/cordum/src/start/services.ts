import { type Logger, type Metrics, toError } from '@cordum/core';
import { startSafetyKernelService } from '@cordum/safety-kernel';
import { startSchedulerService } from '@cordum/scheduler';
import { startWorkflowEngineService } from '@cordum/workflow-engine';
import { startGatewayService } from '../gateway.js';
import type { Output } from '../output.js';

// `cordum start <service…>`: each named service as its own main.ts would run it — its own environment
// configuration, its own NATS connection, Redis client and metrics server — several in one process.

export const SERVICE_NAMES = ['gateway', 'scheduler', 'safety-kernel', 'workflow-engine'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/**
 * Start order: the kernel before the scheduler that asks it, the workflow engine (which dispatches through the
 * scheduler) next, the gateway last. Stop order is the reverse.
 */
const START_ORDER: readonly ServiceName[] = ['safety-kernel', 'scheduler', 'workflow-engine', 'gateway'];

export type ServiceHandle = { readonly summary: string; stop(): Promise<void> };

export type ServiceStarter = (options: { logger?: Logger; metrics?: Metrics }) => Promise<ServiceHandle>;

export const SERVICE_STARTERS: Readonly<Record<ServiceName, ServiceStarter>> = {
  'safety-kernel': async (o) => {
    const s = await startSafetyKernelService(o);
    return { summary: `gRPC port ${s.port}${s.metricsPort === null ? '' : `, metrics port ${s.metricsPort}`}`, stop: () => s.stop() };
  },
  scheduler: async (o) => {
    const s = await startSchedulerService(o);
    return { summary: s.metricsPort === null ? 'running' : `metrics port ${s.metricsPort}`, stop: () => s.stop() };
  },
  'workflow-engine': async (o) => {
    const s = await startWorkflowEngineService(o);
    return { summary: s.metricsPort === null ? 'running' : `metrics port ${s.metricsPort}`, stop: () => s.stop() };
  },
  gateway: () => startGatewayService(),
};

export function isServiceName(name: string): name is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(name);
}

export type RunningServices = { stop(): Promise<void> };

/**
 * Starts the services in dependency order, printing a line as each is ready. If one fails, those already
 * started are stopped and the error is rethrown.
 */
export async function startServices(
  names: readonly ServiceName[],
  output: Output,
  starters: Readonly<Record<ServiceName, ServiceStarter>> = SERVICE_STARTERS,
): Promise<RunningServices> {
  const running: { name: ServiceName; handle: ServiceHandle }[] = [];
  const stopAll = async (): Promise<void> => {
    for (const { name, handle } of running.splice(0).reverse()) {
      output.line(`stopping ${name}…`);
      try {
        await handle.stop();
      } catch (err) {
        output.error(`${name}: shutdown failed: ${toError(err).message}`);
      }
    }
  };
  for (const name of START_ORDER.filter((n) => names.includes(n))) {
    output.line(`starting ${name}…`);
    try {
      const handle = await starters[name]({});
      running.push({ name, handle });
      output.line(`${name} ready (${handle.summary})`);
    } catch (err) {
      await stopAll();
      throw new Error(`${name} did not start: ${toError(err).message}`, { cause: err });
    }
  }
  return { stop: stopAll };
}
