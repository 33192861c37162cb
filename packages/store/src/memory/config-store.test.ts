import { memoryFactory, runConfigStoreContract } from '@cordum/testkit';
import { createMemoryConfigStore } from './config-store.js';

runConfigStoreContract('memory', memoryFactory((ctx) => createMemoryConfigStore(ctx), { configHistoryLimit: 5 }));
