// @cordum/bus/memory: the embedded bus (cordum dev, unit tests). Same contract suite as ./nats.
export { type MemoryBroker, type MemoryBusOptions, createMemoryBroker, createMemoryBus } from './broker.js';
