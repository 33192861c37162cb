import { memoryFactory, runDlqStoreContract } from '@cordum/testkit';
import { createMemoryDlqStore } from './dlq-store.js';

runDlqStoreContract('memory', memoryFactory((ctx) => createMemoryDlqStore(ctx)));
