import { ConflictError, type CordumError, InvalidError } from '@cordum/core';
import type { JobState } from '@cordum/protocol';
import type { JobRecord, JobStore, NewJob, SlotRequest, TransitionRequest } from '@cordum/store';
import { describe, expect, it } from 'vitest';
import { expectRejection } from './assertions.js';
import type { PortFixture } from './fixture.js';

// The JobStore's concurrency slots (quotas), part of the JobStore contract (runJobStoreContract calls this
// inside its describe, so every adapter passes it). A slot is taken by the write that moves a job into
// SCHEDULED/DISPATCHED/RUNNING and released by the write that moves it anywhere else.

function job(id: string, extra: Partial<NewJob> = {}): NewJob {
  return { id, tenant: 'acme', topic: 'job.default', ...extra };
}

function move(from: JobState | JobState[], to: JobState, extra: Partial<TransitionRequest> = {}): TransitionRequest {
  return { from, to, actor: 'test', ...extra };
}

/** PENDING → DISPATCHED through SCHEDULED in one write, taking a slot: what a scheduler's dispatch does. */
function dispatch(slot: SlotRequest): TransitionRequest {
  return move(['PENDING', 'SCHEDULED'], 'DISPATCHED', { via: { state: 'SCHEDULED', reason: 'attempt' }, slot });
}

async function expectQuota(promise: Promise<unknown>, details: Record<string, unknown>): Promise<CordumError> {
  const err = await expectRejection(promise, ConflictError, 'quota_exceeded');
  expect(err.details).toMatchObject(details);
  expect(err.message).not.toBe('');
  return err;
}

export function describeJobSlotsContract(fixture: () => PortFixture<JobStore>): void {
  describe('concurrency slots (quotas)', () => {
    const store = (): JobStore => fixture().port;

    it('takes a slot with the move into the slot states, keeps it while in flight, releases it with the move that ends the job', async () => {
      const s = store();
      await s.create(job('s1'));
      expect(await s.slots('acme')).toEqual({ tenant: 0, actors: {} });
      await s.transition('s1', move('PENDING', 'SCHEDULED', { slot: { actor: 'alice', tenantLimit: 5, actorLimit: 5 } }));
      expect(await s.slots('acme')).toEqual({ tenant: 1, actors: { alice: 1 } });
      // A job that holds its slot keeps it: no second slot, no check.
      await s.transition('s1', move('SCHEDULED', 'DISPATCHED', { slot: { actor: 'alice', tenantLimit: 1, actorLimit: 1 } }));
      await s.transition('s1', move('DISPATCHED', 'RUNNING'));
      await s.transition('s1', move('RUNNING', 'SCHEDULED', { patch: { waitReason: 'backoff_until' } }));
      await s.transition('s1', move('SCHEDULED', 'SCHEDULED', { patch: { dueAt: 5 } }));
      expect(await s.slots('acme')).toEqual({ tenant: 1, actors: { alice: 1 } });
      await s.transition('s1', move('SCHEDULED', 'SUCCEEDED'));
      expect(await s.slots('acme')).toEqual({ tenant: 0, actors: {} });
    });

    it('releases the slot on every terminal state and on a move back to PENDING, whoever writes it', async () => {
      const s = store();
      const ends: Array<[JobState, JobState]> = [
        ['RUNNING', 'SUCCEEDED'],
        ['RUNNING', 'FAILED'],
        ['DISPATCHED', 'CANCELLED'],
        ['DISPATCHED', 'TIMEOUT'],
        ['SCHEDULED', 'DENIED'],
        ['SCHEDULED', 'PENDING'],
      ];
      for (const [i, [from, to]] of ends.entries()) {
        const id = `end-${i}`;
        await s.create(job(id));
        await s.transition(id, dispatch({ actor: 'bob', tenantLimit: 1, actorLimit: 1 }));
        if (from === 'RUNNING') await s.transition(id, move('DISPATCHED', 'RUNNING'));
        if (from === 'SCHEDULED') await s.transition(id, move('DISPATCHED', 'SCHEDULED'));
        expect(await s.slots('acme')).toEqual({ tenant: 1, actors: { bob: 1 } });
        await fixture().twin().transition(id, move(from, to));
        expect(await s.slots('acme')).toEqual({ tenant: 0, actors: {} });
      }
      // The job sent back to PENDING takes a slot again on its next move.
      await s.transition('end-5', move('PENDING', 'SCHEDULED', { slot: { actor: 'bob' } }));
      expect(await s.slots('acme')).toEqual({ tenant: 1, actors: { bob: 1 } });
    });

    it('refuses a slot over the tenant limit with quota_exceeded, writing nothing', async () => {
      const s = store();
      for (const id of ['t1', 't2', 't3']) await s.create(job(id));
      await s.transition('t1', dispatch({ tenantLimit: 2 }));
      await s.transition('t2', dispatch({ actor: 'carol', tenantLimit: 2 }));
      const before = await s.get('t3');
      const err = await expectQuota(s.transition('t3', dispatch({ tenantLimit: 2 })), {
        scope: 'tenant',
        tenant: 'acme',
        active: 2,
        limit: 2,
      });
      expect(err.message).toBe('tenant acme holds 2 of its 2 concurrent job slots');
      expect(await s.get('t3')).toEqual(before);
      expect(await s.events('t3')).toHaveLength(1);
      expect(await s.slots('acme')).toEqual({ tenant: 2, actors: { carol: 1 } });
      // A higher limit on the next request lets it through; the limit is the caller's, per request.
      await s.transition('t3', dispatch({ tenantLimit: 3 }));
      expect((await s.slots('acme')).tenant).toBe(3);
    });

    it('counts actors within their tenant, checks the actor before the tenant, and jobs without an actor against the tenant only', async () => {
      const s = store();
      for (const id of ['a1', 'a2', 'b1', 'n1', 'n2', 'o1']) await s.create(job(id, id === 'o1' ? { tenant: 'other' } : {}));
      await s.transition('a1', dispatch({ actor: 'alice', actorLimit: 1, tenantLimit: 3 }));
      await s.transition('b1', dispatch({ actor: 'bob', actorLimit: 1, tenantLimit: 3 }));
      await s.transition('n1', dispatch({ actor: null, actorLimit: 1, tenantLimit: 3 }));
      // alice is at her limit and the tenant at its: the actor is named.
      const err = await expectQuota(s.transition('a2', dispatch({ actor: 'alice', actorLimit: 1, tenantLimit: 3 })), {
        scope: 'actor',
        tenant: 'acme',
        actor: 'alice',
        active: 1,
        limit: 1,
      });
      expect(err.message).toBe('actor alice holds 1 of its 1 concurrent job slots in tenant acme');
      await expectQuota(s.transition('n2', dispatch({ actorLimit: 1, tenantLimit: 3 })), { scope: 'tenant', active: 3 });
      // Another tenant's alice has her own count.
      await s.transition('o1', dispatch({ actor: 'alice', actorLimit: 1, tenantLimit: 1 }));
      expect(await s.slots('acme')).toEqual({ tenant: 3, actors: { alice: 1, bob: 1 } });
      expect(await s.slots('other')).toEqual({ tenant: 1, actors: { alice: 1 } });
      expect(await s.slots('nobody')).toEqual({ tenant: 0, actors: {} });
      // Without a tenant limit only the actor's applies.
      await s.transition('n2', dispatch({ actorLimit: 1 }));
      expect((await s.slots('acme')).tenant).toBe(4);
    });

    it('checks the compare-and-set before the quota', async () => {
      const s = store();
      await s.create(job('q1'));
      await s.create(job('q2'));
      await s.transition('q1', dispatch({ tenantLimit: 1 }));
      await expectRejection(s.transition('q2', move('SCHEDULED', 'DISPATCHED', { slot: { tenantLimit: 1 } })), ConflictError, 'state_conflict');
      await expectRejection(s.transition('q2', move('PENDING', 'RUNNING', { slot: { tenantLimit: 1 } })), InvalidError, 'invalid_transition');
    });

    it('rejects a slot on a move into a state that holds none, and malformed limits or actors', async () => {
      const s = store();
      await s.create(job('bad'));
      const bad: TransitionRequest[] = [
        move('PENDING', 'PENDING', { slot: {} }),
        move('PENDING', 'APPROVAL_REQUIRED', { slot: {} }),
        move('PENDING', 'CANCELLED', { slot: {} }),
        move('PENDING', 'SCHEDULED', { slot: { tenantLimit: -1 } }),
        move('PENDING', 'SCHEDULED', { slot: { actorLimit: 1.5 } }),
        move('PENDING', 'SCHEDULED', { slot: { actor: 'x'.repeat(257) } }),
        move('PENDING', 'SCHEDULED', { slot: { actor: 7 as unknown as string } }),
      ];
      for (const request of bad) await expectRejection(s.transition('bad', request), InvalidError, 'invalid_argument');
      expect((await s.get('bad'))?.version).toBe(1);
      await expectRejection(s.slots('bad tenant'), InvalidError, 'invalid_argument');
      await expectRejection(s.repairSlots({ tenant: 'bad:tenant' }), InvalidError, 'invalid_argument');
    });

    it('of N racing callers at limit L, exactly L get a slot — per tenant and per actor', async () => {
      const s = store();
      const views = [s, fixture().twin(), fixture().twin(), fixture().twin()];
      const ids = Array.from({ length: 40 }, (_, i) => `race-${i}`);
      await Promise.all(ids.map((id) => s.create(job(id))));
      const race = async (slot: (i: number) => SlotRequest, only: string[]): Promise<JobRecord[]> => {
        const results = await Promise.allSettled(
          only.map((id, i) => views[i % views.length]!.transition(id, dispatch(slot(i)))),
        );
        const losers = results.filter((r) => r.status === 'rejected').map((r) => r.reason as CordumError);
        expect(losers.every((e) => e instanceof ConflictError && e.code === 'quota_exceeded')).toBe(true);
        return results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
      };

      const winners = await race(() => ({ tenantLimit: 7 }), ids);
      expect(winners).toHaveLength(7);
      expect((await s.slots('acme')).tenant).toBe(7);
      expect((await s.countByState('acme')).DISPATCHED).toBe(7);

      // Free them all, then race again with actors a, b, c (limit 2 each) under a tenant limit of 5.
      await Promise.all(winners.map((w, i) => views[i % views.length]!.transition(w.id, move('DISPATCHED', 'SUCCEEDED'))));
      expect(await s.slots('acme')).toEqual({ tenant: 0, actors: {} });
      const rest = ids.filter((id) => !winners.some((w) => w.id === id));
      const actorOf = (i: number): string => ['a', 'b', 'c'][i % 3]!;
      const second = await race((i) => ({ actor: actorOf(i), actorLimit: 2, tenantLimit: 5 }), rest);
      expect(second).toHaveLength(5);
      const usage = await s.slots('acme');
      expect(usage.tenant).toBe(5);
      expect(Object.values(usage.actors).every((n) => n <= 2)).toBe(true);
      expect(Object.values(usage.actors).reduce((a, b) => a + b, 0)).toBe(5);
    });

    it('keeps the count equal to the jobs in flight while slots are taken and released concurrently', async () => {
      const s = store();
      const views = [s, fixture().twin(), fixture().twin()];
      const ids = Array.from({ length: 24 }, (_, i) => `flow-${i}`);
      await Promise.all(ids.map((id) => s.create(job(id))));
      let maxSeen = 0;
      // Every caller loops: try to take a slot (limit 3); on success check the count, then finish the job.
      await Promise.all(
        ids.map(async (id, i) => {
          const view = views[i % views.length]!;
          for (;;) {
            try {
              await view.transition(id, dispatch({ actor: `u${i % 2}`, tenantLimit: 3, actorLimit: 2 }));
            } catch (err) {
              expect((err as CordumError).code).toBe('quota_exceeded');
              await new Promise((resolve) => setTimeout(resolve, 1));
              continue;
            }
            const usage = await view.slots('acme');
            maxSeen = Math.max(maxSeen, usage.tenant);
            expect(usage.tenant).toBeLessThanOrEqual(3);
            await view.transition(id, move('DISPATCHED', i % 2 === 0 ? 'SUCCEEDED' : 'FAILED'));
            return;
          }
        }),
      );
      expect(maxSeen).toBeGreaterThan(0);
      expect(await s.slots('acme')).toEqual({ tenant: 0, actors: {} });
      expect((await s.countByState('acme')).SUCCEEDED + (await s.countByState('acme')).FAILED).toBe(24);
    });

    it('repairSlots leaves slots of jobs in flight alone', async () => {
      const s = store();
      for (const id of ['r1', 'r2', 'r3']) await s.create(job(id));
      await s.create(job('r4', { tenant: 'other' }));
      await s.transition('r1', dispatch({ actor: 'dan' }));
      await s.transition('r2', move('PENDING', 'SCHEDULED', { slot: { actor: 'dan' } }));
      await s.transition('r3', dispatch({}));
      await s.transition('r3', move('DISPATCHED', 'CANCELLED'));
      await s.transition('r4', dispatch({ actor: 'eve' }));
      expect(await s.repairSlots()).toBe(0);
      expect(await s.repairSlots({ tenant: 'acme' })).toBe(0);
      expect(await s.repairSlots({ tenant: 'nobody' })).toBe(0);
      expect(await s.slots('acme')).toEqual({ tenant: 2, actors: { dan: 2 } });
      expect(await s.slots('other')).toEqual({ tenant: 1, actors: { eve: 1 } });
    });
  });
}
