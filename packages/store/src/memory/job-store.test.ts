import { memoryFactory, runJobStoreContract } from '@cordum/testkit';
import { createMemoryJobStore } from './index.js';

// A short retention so the contract's retention test sees terminal jobs expire (the clock is manual).
runJobStoreContract('memory', memoryFactory((ctx) => createMemoryJobStore(ctx), { jobRetentionMs: 1000 }));
