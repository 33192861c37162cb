import { randomBytes } from 'node:crypto';
import { runBusContract } from '@cordum/testkit';
import { createMemoryBroker } from './index.js';

const ACK_WAIT_MS = 400;

runBusContract('memory, core mode', () => {
  const broker = createMemoryBroker({ mode: 'core' });
  return Promise.resolve({
    connect: () => Promise.resolve(broker.connect()),
    durableSubjects: [],
    ackWaitMs: ACK_WAIT_MS,
    close: () => Promise.resolve(),
  });
}, { durable: false });

runBusContract('memory, durable mode', () => {
  const p = randomBytes(3).toString('hex');
  const durableSubjects = [`t${p}.sys.job.submit`, `t${p}.sys.job.result`];
  const broker = createMemoryBroker({ mode: 'durable', durableSubjects, ackWaitMs: ACK_WAIT_MS });
  return Promise.resolve({
    connect: () => Promise.resolve(broker.connect()),
    durableSubjects,
    ackWaitMs: ACK_WAIT_MS,
    close: () => Promise.resolve(),
  });
}, { durable: true });
