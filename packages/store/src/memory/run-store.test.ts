import { RUN_STORE_CONTRACT_OPTIONS, memoryFactory, runRunStoreContract } from '@cordum/testkit';
import { createMemoryRunStore } from './run-store.js';

runRunStoreContract('memory', memoryFactory((ctx) => createMemoryRunStore(ctx), RUN_STORE_CONTRACT_OPTIONS));
