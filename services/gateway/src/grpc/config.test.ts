import { describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../config.js';

const KEYS = { CORDUM_API_KEYS: 'ci:key-0123456789abcdef' };

describe('gateway gRPC config', () => {
  it('GATEWAY_GRPC_ADDR (:8080 by default) is where gRPC listens; off turns it off', () => {
    expect(loadGatewayConfig(KEYS).grpcListen).toBe(':8080');
    expect(loadGatewayConfig({ ...KEYS, GATEWAY_GRPC_ADDR: '10.0.0.5:9090' }).grpcListen).toBe('10.0.0.5:9090');
    expect(loadGatewayConfig({ ...KEYS, GATEWAY_GRPC_ADDR: 'off' }).grpcListen).toBeUndefined();
    expect(() => loadGatewayConfig({ ...KEYS, GATEWAY_GRPC_ADDR: 'nope' })).toThrow(/GATEWAY_GRPC_ADDR must be host:port.*\(or off\)/);
  });

  it('without API keys gRPC stays on this machine: the default moves to loopback, an explicit public address is refused', () => {
    expect(loadGatewayConfig({ GATEWAY_HTTP_ADDR: '127.0.0.1:8081' }).grpcListen).toBe('127.0.0.1:8080');
    expect(loadGatewayConfig({ GATEWAY_HTTP_ADDR: '[::1]:8081' }).grpcListen).toBe('[::1]:8080');
    expect(loadGatewayConfig({ GATEWAY_HTTP_ADDR: 'localhost:8081', GATEWAY_GRPC_ADDR: 'localhost:9000' }).grpcListen).toBe('localhost:9000');
    expect(() => loadGatewayConfig({ GATEWAY_HTTP_ADDR: '127.0.0.1:8081', GATEWAY_GRPC_ADDR: ':8080' })).toThrow(
      /gRPC would run open .* GATEWAY_GRPC_ADDR=127\.0\.0\.1:8080/,
    );
  });

  it('gRPC TLS: GRPC_TLS_CERT and GRPC_TLS_KEY together, else the HTTP certificate, else plaintext', () => {
    expect(() => loadGatewayConfig({ ...KEYS, GRPC_TLS_CERT: '/c.pem' })).toThrow(/GRPC_TLS_CERT and GRPC_TLS_KEY go together/);
    expect(loadGatewayConfig(KEYS).grpcTlsFiles).toBeUndefined();
    const http = { ...KEYS, GATEWAY_TLS_CERT: '/h.pem', GATEWAY_TLS_KEY: '/hk.pem' };
    expect(loadGatewayConfig(http).grpcTlsFiles).toEqual({ cert: '/h.pem', key: '/hk.pem' });
    expect(loadGatewayConfig({ ...http, GRPC_TLS_CERT: '/g.pem', GRPC_TLS_KEY: '/gk.pem' }).grpcTlsFiles).toEqual({ cert: '/g.pem', key: '/gk.pem' });
    // Production requires TLS (GATEWAY_TLS_*), which gRPC then uses too.
    expect(loadGatewayConfig({ ...http, CORDUM_ENV: 'production' })).toMatchObject({ grpcListen: ':8080', grpcTlsFiles: { cert: '/h.pem' } });
  });
});
