import { type Counter, type Gauge, type Histogram, type Metrics, createMetrics } from '@cordum/core';

/** The gateway's Prometheus metrics (created once per registry, so cordum dev can share one). */
export type GatewayMetrics = {
  requests: Counter<'method' | 'route' | 'status'>;
  latency: Histogram<'method' | 'route'>;
  submits: Counter<'outcome'>;
  approvals: Counter<'outcome'>;
  authFailures: Counter<'reason'>;
  workers: Gauge<never>;
};

export function createGatewayMetrics(metrics: Metrics = createMetrics()): GatewayMetrics {
  return {
    requests: metrics.counter('gateway_http_requests_total', 'HTTP requests, by method, route and status', ['method', 'route', 'status']),
    latency: metrics.histogram('gateway_http_request_duration_seconds', 'HTTP request latency, by method and route', ['method', 'route']),
    submits: metrics.counter('gateway_jobs_submitted_total', 'Job submissions, by outcome (created, duplicate, retry, remediation)', ['outcome']),
    approvals: metrics.counter('gateway_approvals_total', 'Approval decisions, by outcome (granted, rejected, conflict)', ['outcome']),
    authFailures: metrics.counter('gateway_auth_failures_total', 'Refused requests, by reason (unauthenticated, permission_denied, rate_limited)', ['reason']),
    workers: metrics.gauge('gateway_workers', 'Workers heard from within the heartbeat timeout'),
  };
}
