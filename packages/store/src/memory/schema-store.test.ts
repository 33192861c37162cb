import { memoryFactory, runSchemaStoreContract } from '@cordum/testkit';
import { createMemorySchemaStore } from './schema-store.js';

runSchemaStoreContract('memory', memoryFactory((ctx) => createMemorySchemaStore(ctx)));
