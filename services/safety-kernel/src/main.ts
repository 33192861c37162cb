// Composition root of the safety kernel process: startSafetyKernelService() from the environment, stopped on SIGTERM/SIGINT.
import { runServiceMain } from '@cordum/core';
import { loadSafetyKernelConfig } from './config.js';
import { startSafetyKernelService } from './index.js';

runServiceMain('cordum-safety-kernel', () => loadSafetyKernelConfig().logLevel, (logger) => startSafetyKernelService({ logger }));
