// Composition root of the gateway process: startGatewayService() from the environment, stopped on SIGTERM/SIGINT.
import { runServiceMain } from '@cordum/core';
import { loadGatewayConfig } from './config.js';
import { startGatewayService } from './service.js';

runServiceMain('cordum-gateway', () => loadGatewayConfig().logLevel, (logger) => startGatewayService({ logger }));
