// Composition root of the workflow engine process: startWorkflowEngineService() from the environment, stopped on SIGTERM/SIGINT.
import { runServiceMain } from '@cordum/core';
import { loadWorkflowEngineConfig } from './config.js';
import { startWorkflowEngineService } from './index.js';

runServiceMain('cordum-workflow-engine', () => loadWorkflowEngineConfig().logLevel, (logger) => startWorkflowEngineService({ logger }));
