import { describe, expect, it } from 'vitest';
import { buildCheckBody, bundlePath, parseBundleFlag } from './requests.js';

describe('policy requests', () => {
  it('builds the policy-check body from flags, on top of a --request document', () => {
    expect(
      buildCheckBody(
        { topic: 'job.tracker.write', riskTags: ['write,network', 'write'], requires: ['net'], labels: ['env=prod'], actorType: 'human', team: 'payments' },
        undefined,
      ),
    ).toEqual({ topic: 'job.tracker.write', risk_tags: ['write', 'network'], requires: ['net'], labels: { env: 'prod' }, actor_type: 'human', team_id: 'payments' });
    const request = { value: { topic: 'job.a', capability: 'x', meta: { pack_id: 'p' } }, text: '', format: 'yaml' as const, source: 'inline' };
    expect(buildCheckBody({ capability: 'y' }, request)).toEqual({ topic: 'job.a', capability: 'y', meta: { pack_id: 'p' } });
  });

  it('needs a topic and known choices', () => {
    expect(() => buildCheckBody({}, undefined)).toThrow('a policy question needs --topic (or a topic in --request)');
    expect(() => buildCheckBody({ topic: 'job.a', actorType: 'robot' }, undefined)).toThrow('--actor-type: "robot" is not one of human, service');
  });

  it('writes bundle ids in paths with ~ for /, and names --bundle files', () => {
    expect(bundlePath('secops/freeze')).toBe('/api/v1/policy/bundles/secops~freeze');
    expect(bundlePath('a b')).toBe('/api/v1/policy/bundles/a%20b');
    expect(parseBundleFlag('policies/freeze.yaml')).toEqual({ id: 'secops/freeze', file: 'policies/freeze.yaml' });
    expect(parseBundleFlag('tracker/safety=./t.yaml')).toEqual({ id: 'tracker/safety', file: './t.yaml' });
  });
});
