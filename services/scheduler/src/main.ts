// Composition root of the scheduler process: startSchedulerService() from the environment, stopped on SIGTERM/SIGINT.
import { runServiceMain } from '@cordum/core';
import { loadSchedulerConfig } from './config.js';
import { startSchedulerService } from './index.js';

runServiceMain('cordum-scheduler', () => loadSchedulerConfig().logLevel, (logger) => startSchedulerService({ logger }));
