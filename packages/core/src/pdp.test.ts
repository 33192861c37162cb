import { create } from '@bufbuild/protobuf';
import { DecisionType, PolicyCheckRequestSchema } from '@cordum/protocol';
import { describe, expect, it } from 'vitest';
import { RetryableError, createStaticPdp } from './index.js';

const req = (topic: string, riskTags: string[] = []) =>
  create(PolicyCheckRequestSchema, { jobId: 'j1', topic, tenant: 'acme', meta: { riskTags } });

describe('static PDP', () => {
  it('first matching rule wins, else the default decision', async () => {
    const pdp = createStaticPdp({
      rules: [
        { id: 'deny-prod', riskTag: 'prod', decision: DecisionType.DENY, reason: 'no prod' },
        { id: 'approve-writes', topic: 'job.repo.*', decision: DecisionType.REQUIRE_HUMAN },
      ],
      defaultDecision: DecisionType.ALLOW,
      snapshot: 'snap-1',
    });
    const denied = await pdp.check(req('job.repo.write', ['prod']));
    expect(denied).toMatchObject({ decision: DecisionType.DENY, ruleId: 'deny-prod', policySnapshot: 'snap-1' });
    const held = await pdp.check(req('job.repo.write.deep'));
    expect(held).toMatchObject({ decision: DecisionType.REQUIRE_HUMAN, approvalRequired: true, approvalRef: 'j1' });
    expect((await pdp.evaluate(req('job.chat'))).decision).toBe(DecisionType.ALLOW);
    expect(pdp.checks).toHaveLength(2);
  });

  it('fails as an outage would: RetryableError safety_unavailable, never an allow', async () => {
    const pdp = createStaticPdp();
    pdp.setAvailable(false);
    const err = await pdp.check(req('job.x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).code).toBe('safety_unavailable');
    pdp.setAvailable(true);
    expect((await pdp.check(req('job.x'))).decision).toBe(DecisionType.ALLOW);
  });

  it('tracks snapshots newest first', async () => {
    const pdp = createStaticPdp({ snapshot: 'a' });
    pdp.setRules([], 'b');
    expect(await pdp.listSnapshots()).toEqual(['b', 'a']);
  });
});
