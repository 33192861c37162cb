// @cordum/bus/nats: the NATS adapter (core NATS + JetStream for the durable subjects). The only place the
// NATS client is imported.
export { type NatsBusOptions, connectNatsBus } from './nats-bus.js';
