import { randomBytes } from 'node:crypto';
import { type NatsServer, runBusContract, startNats } from '@cordum/testkit';
import { afterAll, beforeAll } from 'vitest';
import { connectNatsBus } from './index.js';

const ACK_WAIT_MS = 1000;
let server: NatsServer;

beforeAll(async () => {
  server = await startNats();
});
afterAll(async () => {
  await server?.stop();
});

runBusContract('nats, core', () =>
  Promise.resolve({
    connect: () => connectNatsBus({ servers: server.url }),
    durableSubjects: [],
    ackWaitMs: ACK_WAIT_MS,
    close: () => Promise.resolve(),
  }),
  { durable: false },
);

runBusContract('nats, jetstream', () => {
  const p = randomBytes(3).toString('hex');
  const durableSubjects = [`t${p}.sys.job.submit`, `t${p}.sys.job.result`];
  const streamName = `T_${p}`;
  return Promise.resolve({
    connect: () =>
      connectNatsBus({ servers: server.url, jetstream: true, streamName, durableSubjects, ackWaitMs: ACK_WAIT_MS }),
    durableSubjects,
    ackWaitMs: ACK_WAIT_MS,
    close: () => Promise.resolve(),
  });
}, { durable: true });
