import { memoryFactory, runWorkflowStoreContract } from '@cordum/testkit';
import { createMemoryWorkflowStore } from './workflow-store.js';

runWorkflowStoreContract('memory', memoryFactory((ctx) => createMemoryWorkflowStore(ctx)));
