import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { InvalidError, RetryableError } from '@cordum/core';
import { SafetyKernel } from '@cordum/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GrpcServer, createGrpcClient, createGrpcServer } from './index.js';

const run = promisify(execFile);

type Pem = { cert: string; key: string };

// node:crypto cannot issue X.509 certificates; openssl can. One day, P-256, valid for localhost and 127.0.0.1
// unless told otherwise.
async function selfSigned(dir: string, name: string, san = 'DNS:localhost,IP:127.0.0.1'): Promise<Pem> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`,
    '-days', '1', '-keyout', key, '-out', cert,
  ]);
  return { cert: await readFile(cert, 'utf8'), key: await readFile(key, 'utf8') };
}

const snapshots = { listSnapshots: () => Promise.resolve({ snapshots: ['tls-snap'] }) };

describe('TLS', () => {
  let dir: string;
  let serverPem: Pem;
  let clientPem: Pem;
  let tlsServer: GrpcServer;
  let mtlsServer: GrpcServer;
  let tlsAddress: string;
  let mtlsAddress: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cordum-rpc-tls-'));
    [serverPem, clientPem] = await Promise.all([selfSigned(dir, 'localhost'), selfSigned(dir, 'client')]);

    tlsServer = createGrpcServer({ address: '127.0.0.1:0', tls: serverPem });
    tlsServer.add(SafetyKernel, snapshots);
    // Dialled by name: the name is what the certificate is checked against (grpc-js warns when dialling an IP).
    tlsAddress = `localhost:${(await tlsServer.start()).port}`;

    // With a CA the server demands client certificates signed by it (mutual TLS).
    mtlsServer = createGrpcServer({ address: '127.0.0.1:0', tls: { ...serverPem, ca: clientPem.cert } });
    mtlsServer.add(SafetyKernel, snapshots);
    mtlsAddress = `localhost:${(await mtlsServer.start()).port}`;
  });
  afterAll(async () => {
    await Promise.all([tlsServer.stop(500), mtlsServer.stop(500)]);
    await rm(dir, { recursive: true, force: true });
  });

  it('a client trusting the server certificate calls it', async () => {
    const client = createGrpcClient(SafetyKernel, tlsAddress, { tls: { ca: serverPem.cert }, timeoutMs: 5_000 });
    try {
      expect((await client.listSnapshots({})).snapshots).toEqual(['tls-snap']);
    } finally {
      client.close();
    }
  });

  it('a client refuses a server whose certificate does not name the address dialled', async () => {
    const other = await selfSigned(dir, 'elsewhere', 'DNS:elsewhere.example');
    const server = createGrpcServer({ address: '127.0.0.1:0', tls: other, health: false, reflection: false });
    server.add(SafetyKernel, snapshots);
    const { port } = await server.start();
    const client = createGrpcClient(SafetyKernel, `localhost:${port}`, { tls: { ca: other.cert }, timeoutMs: 3_000 });
    try {
      await expect(client.listSnapshots({})).rejects.toBeInstanceOf(RetryableError);
    } finally {
      client.close();
      await server.stop(500);
    }
  });

  it('a plaintext client cannot call a TLS server', async () => {
    const client = createGrpcClient(SafetyKernel, tlsAddress, { timeoutMs: 3_000 });
    try {
      const err = await client.listSnapshots({}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RetryableError);
    } finally {
      client.close();
    }
  });

  it('a client trusting only the system roots rejects the self-signed certificate', async () => {
    const client = createGrpcClient(SafetyKernel, tlsAddress, { tls: 'system', timeoutMs: 3_000 });
    try {
      const err = await client.listSnapshots({}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RetryableError);
      expect((err as RetryableError).code).toBe('unavailable');
    } finally {
      client.close();
    }
  });

  it('mutual TLS: only a client presenting a certificate from the configured CA gets through', async () => {
    const anonymous = createGrpcClient(SafetyKernel, mtlsAddress, { tls: { ca: serverPem.cert }, timeoutMs: 3_000 });
    const strangerPem = await selfSigned(dir, 'stranger');
    const stranger = createGrpcClient(SafetyKernel, mtlsAddress, {
      tls: { ca: serverPem.cert, ...strangerPem },
      timeoutMs: 3_000,
    });
    const known = createGrpcClient(SafetyKernel, mtlsAddress, {
      tls: { ca: Buffer.from(serverPem.cert), cert: Buffer.from(clientPem.cert), key: clientPem.key },
      timeoutMs: 5_000,
    });
    try {
      await expect(anonymous.listSnapshots({})).rejects.toBeInstanceOf(RetryableError);
      await expect(stranger.listSnapshots({})).rejects.toBeInstanceOf(RetryableError);
      expect((await known.listSnapshots({})).snapshots).toEqual(['tls-snap']);
    } finally {
      anonymous.close();
      stranger.close();
      known.close();
    }
  });

  it('buf curl reaches the TLS and mutual-TLS servers by reflection', async () => {
    const buf = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'node_modules', '.bin', 'buf');
    const call = async (address: string, extra: string[]) => {
      const { stdout } = await run(buf, [
        'curl', '--protocol', 'grpc', '--cacert', join(dir, 'localhost.crt'), ...extra, '--data', '{}',
        `https://${address}/cordum.agent.v1.SafetyKernel/ListSnapshots`,
      ], { timeout: 30_000 });
      return JSON.parse(stdout) as unknown;
    };
    expect(await call(tlsAddress, [])).toEqual({ snapshots: ['tls-snap'] });
    const clientAuth = ['--cert', join(dir, 'client.crt'), '--key', join(dir, 'client.key')];
    expect(await call(mtlsAddress, clientAuth)).toEqual({ snapshots: ['tls-snap'] });
  });

  it('a client certificate without its key is a config error', () => {
    expect(() => createGrpcClient(SafetyKernel, tlsAddress, { tls: { cert: clientPem.cert } })).toThrow(InvalidError);
  });
});
