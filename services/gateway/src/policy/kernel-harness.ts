import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bus } from '@cordum/bus';
import { createMemoryBroker } from '@cordum/bus/memory';
import { InvalidError, createMetrics } from '@cordum/core';
import { type EmbeddedPdp, type GrpcPdp, type PolicyRuntime, createEmbeddedPdp, createGrpcPdp, createPolicyRuntime } from '@cordum/pdp';
import { PolicyExplainer, SafetyKernel } from '@cordum/protocol';
import { type GrpcServer, createGrpcServer } from '@cordum/rpc';
import type { Stores } from '@cordum/store';
import { createMemoryStores } from '@cordum/store/memory';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { createApiKeyResolver, parseApiKeys } from '../auth/api-keys.js';
import { type Gateway, createGateway } from '../index.js';
import { KEY_FILE } from '../testing/fixture.js';
import type { GatewayPolicy } from './port.js';

// Test scaffolding for the policy routes: a real policy runtime (base bundle file + config-store
// fragments) served over a real gRPC server with the kernel's two services, and a gateway that reaches it
// through @cordum/pdp's gRPC client — the production path. Services never import each other, so the
// kernel's thin handlers are rebuilt here from the same packages.

export const BASE_BUNDLE = `version: v1
default_decision: allow
rules:
  - id: no-shell
    match: {topics: ["job.ops.shell"]}
    decision: deny
    reason: raw shells are not allowed
  - id: writes-need-human
    match: {risk_tags: [write]}
    decision: require_approval
    reason: writes need a human
`;

/** A secops key of a tenant that is not the platform tenant. */
export const SECOPS_B = 'secops-b-0123456789abcdef';
const EXTRA_KEYS = JSON.stringify([{ key: SECOPS_B, tenant: 'tenant-b', principal_id: 'sib', roles: ['secops'] }]);

export type PolicyHarness = {
  stores: Stores;
  bus: Bus;
  runtime: PolicyRuntime;
  pdp: EmbeddedPdp;
  grpc: GrpcPdp;
  kernelPort: number;
  gateway: Gateway;
  call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, options?: { key?: string; body?: unknown }): Promise<LightMyRequestResponse>;
  /** Stops the kernel's gRPC server (the gateway keeps pointing at it). */
  stopKernel(): Promise<void>;
  close(): Promise<void>;
};

export type PolicyHarnessOptions = {
  /** How the gateway reaches the kernel: over gRPC (default), in-process (with reload, as cordum dev), or not at all. */
  port?: 'grpc' | 'embedded' | 'none';
  /** gRPC address to use instead of the harness kernel (e.g. one nothing listens on). */
  kernelAddress?: string;
};

export async function startPolicyHarness(options: PolicyHarnessOptions = {}): Promise<PolicyHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'cordum-gw-policy-'));
  const basePath = join(dir, 'safety.yaml');
  await writeFile(basePath, BASE_BUNDLE);
  const stores = createMemoryStores();
  const runtime = createPolicyRuntime({ options: { basePath, reloadIntervalMs: 0 }, config: stores.config, metrics: createMetrics() });
  const pdp = createEmbeddedPdp(runtime, { audit: stores.audit, metrics: createMetrics() });
  await runtime.start();

  const server: GrpcServer = createGrpcServer({ address: '127.0.0.1:0' });
  server.add(SafetyKernel, {
    check: (request, call) => pdp.check(request, { signal: call.signal }),
    evaluate: (request) => pdp.evaluate(request),
    explain: async (request) => (await pdp.explain(request)).decision ?? {},
    simulate: (request) => pdp.evaluate(request),
    listSnapshots: async () => ({ snapshots: [...(await pdp.listSnapshots())] }),
  });
  server.add(PolicyExplainer, {
    explain: (request) => pdp.explain(request),
    simulate: (request) =>
      request.request === undefined
        ? Promise.reject(new InvalidError('request is required'))
        : pdp.simulate({ request: request.request, bundles: request.bundles, defaultDecision: request.defaultDecision }),
  });
  const { port: kernelPort } = await server.start();
  const grpc = createGrpcPdp({ address: options.kernelAddress ?? `127.0.0.1:${kernelPort}`, timeoutMs: 1_000 });

  const mode = options.port ?? 'grpc';
  const policy: GatewayPolicy | undefined =
    mode === 'grpc' ? grpc : mode === 'embedded' ? { ...pdp, reload: () => runtime.reload() } : undefined;
  const bus = createMemoryBroker({ mode: 'core' }).connect();
  const gateway = await createGateway({
    bus,
    stores,
    principals: createApiKeyResolver([...parseApiKeys(KEY_FILE, { source: 'test', defaultTenant: 'default' }), ...parseApiKeys(EXTRA_KEYS, { source: 'test', defaultTenant: 'default' })]),
    metrics: createMetrics(),
    // tenant-a is the platform tenant here: its secops key (KEYS.secopsA) manages the system-wide bundles.
    options: { instanceId: 'gw-policy-test', rateLimitRps: 0, httpAddr: '127.0.0.1:0', defaultTenant: 'tenant-a' },
    ...(policy === undefined ? {} : { policy }),
  });
  let kernelStopped = false;
  return {
    stores,
    bus,
    runtime,
    pdp,
    grpc,
    kernelPort,
    gateway,
    call(method, url, o = {}) {
      const request: InjectOptions = { method, url, headers: o.key === undefined ? {} : { 'x-api-key': o.key } };
      if (o.body !== undefined) request.payload = o.body as NonNullable<InjectOptions['payload']>;
      return gateway.app.inject(request);
    },
    async stopKernel() {
      kernelStopped = true;
      await server.stop(0);
    },
    async close() {
      await gateway.close();
      await bus.close();
      grpc.close();
      if (!kernelStopped) await server.stop(0);
      runtime.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
