import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { create, createFileRegistry, fromBinary, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import { type FileDescriptorProto, FileDescriptorProtoSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import {
  DecisionType,
  OutputDecision,
  OutputPolicyService,
  SafetyKernel,
  ServerReflectionRequestSchema,
  type ServerReflectionResponse,
  ServerReflectionResponseSchema,
} from '@cordum/protocol';
import { Client, Metadata, credentials, status as Status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GrpcServer, createGrpcServer } from './index.js';

const run = promisify(execFile);
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const buf = join(repoRoot, 'node_modules', '.bin', 'buf');

/** The real `buf curl` against a plaintext HTTP/2 server; stdout parsed as JSON unless raw. */
async function bufCurl(args: string[]): Promise<string> {
  const { stdout } = await run(buf, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args], {
    timeout: 30_000,
  });
  return stdout;
}

type ReflectionAsk = MessageInitShape<typeof ServerReflectionRequestSchema>;

/** One reflection stream; ask() sends a request and waits for its answer (the protocol answers in order). */
function openReflection(address: string, path: string) {
  const client = new Client(address, credentials.createInsecure());
  const call = client.makeBidiStreamRequest<Buffer, Buffer>(path, (b) => b, (b) => b, new Metadata());
  const waiting: ((res: ServerReflectionResponse) => void)[] = [];
  const failures: unknown[] = [];
  call.on('data', (bytes: Buffer) => waiting.shift()?.(fromBinary(ServerReflectionResponseSchema, bytes)));
  call.on('error', (err) => failures.push(err));
  return {
    failures,
    ask(request: ReflectionAsk): Promise<ServerReflectionResponse> {
      return new Promise((resolve) => {
        waiting.push(resolve);
        call.write(Buffer.from(toBinary(ServerReflectionRequestSchema, create(ServerReflectionRequestSchema, request))));
      });
    },
    close() {
      call.end();
      client.close();
    },
  };
}

function files(res: ServerReflectionResponse): FileDescriptorProto[] {
  if (res.messageResponse.case !== 'fileDescriptorResponse') {
    throw new Error(`expected files, got ${res.messageResponse.case ?? 'nothing'}`);
  }
  return res.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
}

const symbol = (name: string): ReflectionAsk => ({
  messageRequest: { case: 'fileContainingSymbol', value: name },
});

describe('server reflection', () => {
  let server: GrpcServer;
  let address: string;

  beforeAll(async () => {
    server = createGrpcServer({ address: '127.0.0.1:0' });
    server.add(SafetyKernel, {
      listSnapshots: () => Promise.resolve({ snapshots: ['snap-b', 'snap-a'] }),
      check: (req) =>
        Promise.resolve({
          decision: DecisionType.REQUIRE_HUMAN,
          reason: `${req.topic} by ${req.meta?.actorId ?? '?'}`,
          approvalRequired: true,
        }),
    });
    server.add(OutputPolicyService, {
      checkOutput: (req) => Promise.resolve({ decision: OutputDecision.QUARANTINE, ruleId: `r-${req.jobId}` }),
    });
    const { port } = await server.start();
    address = `127.0.0.1:${port}`;
  });
  afterAll(() => server.stop(1_000));

  describe('with buf curl', () => {
    it('--list-services lists the hosted services, health and reflection', async () => {
      const names = (await bufCurl(['--list-services', `http://${address}`])).trim().split('\n');
      expect(names).toEqual(
        expect.arrayContaining([
          'cordum.agent.v1.SafetyKernel',
          'cordum.v1.OutputPolicyService',
          'grpc.health.v1.Health',
          'grpc.reflection.v1.ServerReflection',
          'grpc.reflection.v1alpha.ServerReflection',
        ]),
      );
    });

    it('--list-methods lists every method by reflection', async () => {
      const methods = (await bufCurl(['--list-methods', `http://${address}`])).trim().split('\n');
      expect(methods.filter((m) => m.startsWith('cordum.agent.v1.SafetyKernel/')).sort()).toEqual(
        ['Check', 'Evaluate', 'Explain', 'ListSnapshots', 'Simulate'].map((m) => `cordum.agent.v1.SafetyKernel/${m}`),
      );
      expect(methods).toEqual(
        expect.arrayContaining(['cordum.v1.OutputPolicyService/CheckOutput', 'grpc.health.v1.Health/Watch']),
      );
    });

    it('calls SafetyKernel/ListSnapshots with the schema from reflection', async () => {
      const out = await bufCurl(['--data', '{}', `http://${address}/cordum.agent.v1.SafetyKernel/ListSnapshots`]);
      expect(JSON.parse(out)).toEqual({ snapshots: ['snap-b', 'snap-a'] });
    });

    it('calls SafetyKernel/Check with a message from an imported file (job.proto)', async () => {
      const data = JSON.stringify({ topic: 'job.deploy', meta: { actorId: 'alice', actorType: 'ACTOR_TYPE_HUMAN' } });
      const out = await bufCurl(['--data', data, `http://${address}/cordum.agent.v1.SafetyKernel/Check`]);
      expect(JSON.parse(out)).toEqual({
        decision: 'DECISION_TYPE_REQUIRE_HUMAN',
        reason: 'job.deploy by alice',
        approvalRequired: true,
      });
    });

    it('calls OutputPolicyService/CheckOutput and grpc.health.v1.Health/Check', async () => {
      const out = await bufCurl(['--data', '{"jobId":"j9"}', `http://${address}/cordum.v1.OutputPolicyService/CheckOutput`]);
      expect(JSON.parse(out)).toEqual({ decision: 'OUTPUT_DECISION_QUARANTINE', ruleId: 'r-j9' });
      const health = await bufCurl(['--data', '{}', `http://${address}/grpc.health.v1.Health/Check`]);
      expect(JSON.parse(health)).toEqual({ status: 'SERVING' });
    });
  });

  describe('the protocol', () => {
    for (const version of ['v1', 'v1alpha']) {
      it(`${version}: list_services, and file_containing_symbol with transitive imports each once`, async () => {
        const r = openReflection(address, `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`);
        try {
          const listed = await r.ask({ host: 'h', messageRequest: { case: 'listServices', value: '' } });
          expect(listed.validHost).toBe('h');
          expect(listed.originalRequest?.messageRequest.case).toBe('listServices');
          if (listed.messageResponse.case !== 'listServicesResponse') throw new Error('no list');
          expect(listed.messageResponse.value.service.map((s) => s.name)).toContain('cordum.agent.v1.SafetyKernel');

          const first = files(await r.ask(symbol('cordum.agent.v1.SafetyKernel')));
          expect(first.map((f) => f.name)).toEqual(['cordum/agent/v1/safety.proto', 'cordum/agent/v1/job.proto']);
          // What was sent is enough to rebuild the service with every type it uses (the registry wants
          // imports before the files that import them).
          const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: [...first].reverse() }));
          const kernel = registry.getService('cordum.agent.v1.SafetyKernel');
          expect(kernel?.methods.map((m) => m.name)).toContain('ListSnapshots');
          expect(registry.getMessage('cordum.agent.v1.JobMetadata')).toBeDefined();

          // On the same stream, the requested file comes again but its already-sent imports do not.
          expect(files(await r.ask(symbol('.cordum.agent.v1.PolicyCheckRequest'))).map((f) => f.name)).toEqual([
            'cordum/agent/v1/safety.proto',
          ]);
          expect(files(await r.ask(symbol('cordum.agent.v1.JobMetadata'))).map((f) => f.name)).toEqual([
            'cordum/agent/v1/job.proto',
          ]);
        } finally {
          r.close();
        }
      });
    }

    it('resolves methods, fields, nested and enum-value symbols and files by name', async () => {
      const r = openReflection(address, '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo');
      try {
        for (const [name, file] of [
          ['cordum.agent.v1.SafetyKernel.ListSnapshots', 'cordum/agent/v1/safety.proto'],
          ['cordum.agent.v1.PolicyCheckRequest.topic', 'cordum/agent/v1/safety.proto'],
          ['cordum.agent.v1.DECISION_TYPE_ALLOW', 'cordum/agent/v1/safety.proto'],
          ['cordum.v1.OutputDecision', 'cordum/v1/output_policy.proto'],
          ['grpc.health.v1.HealthCheckResponse.ServingStatus', 'grpc/health/v1/health.proto'],
          ['grpc.health.v1.HealthCheckResponse.SERVING', 'grpc/health/v1/health.proto'],
          ['grpc.reflection.v1.ServerReflection', 'grpc/reflection/v1/reflection.proto'],
        ] as const) {
          expect(files(await r.ask(symbol(name)))[0]?.name, name).toBe(file);
        }
        const byName = await r.ask({ messageRequest: { case: 'fileByFilename', value: 'cordum/v1/output_policy.proto' } });
        expect(files(byName).map((f) => f.name)).toEqual(['cordum/v1/output_policy.proto']);
        const numbers = await r.ask({
          messageRequest: { case: 'allExtensionNumbersOfType', value: 'cordum.agent.v1.PolicyCheckRequest' },
        });
        expect(numbers.messageResponse).toMatchObject({
          case: 'allExtensionNumbersResponse',
          value: { baseTypeName: 'cordum.agent.v1.PolicyCheckRequest', extensionNumber: [] },
        });
      } finally {
        r.close();
      }
    });

    it('answers NOT_FOUND errors for unknown symbols, files, types and extensions', async () => {
      const r = openReflection(address, '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo');
      try {
        const asks: ReflectionAsk[] = [
          symbol('cordum.agent.v1.Nope'),
          symbol('cordum.v1.CordumApi'), // exists in the protocol package, but not hosted here
          { messageRequest: { case: 'fileByFilename', value: 'nope.proto' } },
          { messageRequest: { case: 'allExtensionNumbersOfType', value: 'nope.Type' } },
          {
            messageRequest: {
              case: 'fileContainingExtension',
              value: { containingType: 'cordum.agent.v1.PolicyCheckRequest', extensionNumber: 100 },
            },
          },
        ];
        for (const ask of asks) {
          const res = await r.ask(ask);
          expect(res.messageResponse.case).toBe('errorResponse');
          expect(res.messageResponse.value).toMatchObject({ errorCode: Status.NOT_FOUND });
        }
        // The stream survives errors.
        expect(files(await r.ask(symbol('cordum.v1.OutputPolicyService')))[0]?.name).toBe('cordum/v1/output_policy.proto');
        expect(r.failures).toEqual([]);
      } finally {
        r.close();
      }
    });
  });

  it('reflection: false leaves ServerReflection unimplemented', async () => {
    const plain = createGrpcServer({ address: '127.0.0.1:0', reflection: false });
    plain.add(SafetyKernel, {});
    const { port } = await plain.start();
    const r = openReflection(`127.0.0.1:${port}`, '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo');
    try {
      const answered = r.ask({ messageRequest: { case: 'listServices', value: '' } });
      await expect.poll(() => r.failures.length).toBe(1);
      expect(r.failures[0]).toMatchObject({ code: Status.UNIMPLEMENTED });
      void answered;
    } finally {
      r.close();
      await plain.stop();
    }
  });
});
