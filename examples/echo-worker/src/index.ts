// @cordum/example-echo-worker: the echo handler and worker for in-process use. The process entry is worker.ts.
export { type EchoResult, type EchoWorkerDeps, createEchoHandler, createEchoWorker } from './echo.js';
export { type EchoConfig, echoConfigSpec, loadEchoConfig } from './config.js';
export { DEMO_POOL, DEMO_TOPICS, type DemoWorkerContext, cordumWorker } from './demo-worker.js';
