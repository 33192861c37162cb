import type { Counter, Gauge, Metrics } from '@cordum/core';

export type StreamMetrics = {
  connections: Gauge<never>;
  events: Counter<'kind'>;
  dropped: Counter<'reason'>;
  disconnects: Counter<'reason'>;
};

export function createStreamMetrics(metrics: Metrics): StreamMetrics {
  return {
    connections: metrics.gauge('gateway_stream_connections', 'Open /api/v1/stream WebSockets'),
    events: metrics.counter('gateway_stream_events_total', 'Bus events settled to a tenant and offered to its sockets, by kind', ['kind']),
    dropped: metrics.counter(
      'gateway_stream_dropped_total',
      'Stream events not delivered, by reason (no_tenant, lookup_failed, backlog, slow_consumer)',
      ['reason'],
    ),
    disconnects: metrics.counter('gateway_stream_disconnects_total', 'Stream sockets ended, by reason (client, ping_timeout, send_failed, shutdown)', ['reason']),
  };
}
