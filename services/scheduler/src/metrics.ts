import { type Counter, type Histogram, type Metrics, createMetrics } from '@cordum/core';

/** The scheduler's Prometheus metrics (created once per registry, so cordum dev can share one). */
export type SchedulerMetrics = {
  intake: Counter<'outcome'>;
  rejected: Counter<'code'>;
  decisions: Counter<'decision'>;
  waits: Counter<'reason'>;
  dispatched: Counter<'topic' | 'pool'>;
  dispatchLatency: Histogram<never>;
  terminal: Counter<'state' | 'topic'>;
  retries: Counter<'topic' | 'reason'>;
  leaseExpiries: Counter<'topic'>;
  dlq: Counter<'reason'>;
  reconcilerActions: Counter<'kind'>;
  lateResults: Counter<never>;
  casLost: Counter<never>;
  slotsRepaired: Counter<never>;
};

export function createSchedulerMetrics(metrics: Metrics = createMetrics()): SchedulerMetrics {
  return {
    intake: metrics.counter('scheduler_intake_total', 'Submits handled, by outcome', ['outcome']),
    rejected: metrics.counter('scheduler_rejected_packets_total', 'Malformed or wrong-version packets, by ErrorCode', ['code']),
    decisions: metrics.counter('scheduler_policy_decisions_total', 'Policy decisions applied, by decision', ['decision']),
    waits: metrics.counter('scheduler_waits_total', 'Jobs put to wait, by wait reason', ['reason']),
    dispatched: metrics.counter('scheduler_dispatched_total', 'Attempts dispatched, by topic and pool', ['topic', 'pool']),
    dispatchLatency: metrics.histogram('scheduler_dispatch_latency_seconds', 'Job creation to dispatch'),
    terminal: metrics.counter('scheduler_jobs_terminal_total', 'Jobs reaching a terminal state, by state and topic', ['state', 'topic']),
    retries: metrics.counter('scheduler_retries_total', 'Attempts retried, by topic and reason', ['topic', 'reason']),
    leaseExpiries: metrics.counter('scheduler_lease_expiries_total', 'Attempts whose lease expired, by topic', ['topic']),
    dlq: metrics.counter('scheduler_dlq_total', 'Jobs sent to the DLQ, by reason', ['reason']),
    reconcilerActions: metrics.counter('scheduler_reconciler_actions_total', 'Timer entries handled, by kind', ['kind']),
    lateResults: metrics.counter('scheduler_late_results_total', 'Results for jobs already terminal (first result wins)'),
    casLost: metrics.counter('scheduler_cas_lost_total', 'Compare-and-set writes lost to another writer'),
    slotsRepaired: metrics.counter('scheduler_quota_slots_repaired_total', 'Quota slots released by leak repair (held by jobs no longer in flight)'),
  };
}
