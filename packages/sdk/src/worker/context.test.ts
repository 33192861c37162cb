import { type JobRequest, type PacketInit, newPacket } from '@cordum/protocol';
import { describe, expect, it } from 'vitest';
import { attemptOf, deadlineMsOf, leaseMsOf, tenantOf } from './context.js';

type RequestInit = Extract<PacketInit['payload'], { case: 'jobRequest' }>['value'];

/** A full JobRequest message (defaults filled in), built the way packets are. */
function request(init: RequestInit): JobRequest {
  const packet = newPacket({ traceId: 't', senderId: 's', payload: { case: 'jobRequest', value: init } });
  if (packet.payload.case !== 'jobRequest') throw new Error('unreachable');
  return packet.payload.value;
}

describe('request helpers', () => {
  it('tenant: request, then meta, then default', () => {
    expect(tenantOf(request({ tenantId: 'a', meta: { tenantId: 'b' } }))).toBe('a');
    expect(tenantOf(request({ meta: { tenantId: 'b' } }))).toBe('b');
    expect(tenantOf(request({}))).toBe('default');
  });

  it('lease from CORDUM_LEASE_MS, else 30 s', () => {
    expect(leaseMsOf(request({ env: { CORDUM_LEASE_MS: '900' } }))).toBe(900);
    expect(leaseMsOf(request({ env: { CORDUM_LEASE_MS: 'soon' } }))).toBe(30_000);
    expect(leaseMsOf(request({ env: { CORDUM_LEASE_MS: '0' } }))).toBe(30_000);
    expect(leaseMsOf(request({}))).toBe(30_000);
  });

  it('deadline from budget.deadline_ms', () => {
    expect(deadlineMsOf(request({ budget: { deadlineMs: 1500n } }))).toBe(1500);
    expect(deadlineMsOf(request({ budget: {} }))).toBeUndefined();
    expect(deadlineMsOf(request({}))).toBeUndefined();
  });

  it('attempt from the dispatch msg-id', () => {
    expect(attemptOf('j1', 'j1#3')).toBe(3);
    expect(attemptOf('j1', 'j2#3')).toBeUndefined();
    expect(attemptOf('j1', 'j1#x')).toBeUndefined();
    expect(attemptOf('j1', undefined)).toBeUndefined();
    expect(attemptOf('a#1', 'a#1#2')).toBe(2);
  });
});
