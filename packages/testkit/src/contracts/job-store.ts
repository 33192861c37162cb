import { ConflictError, type CordumError, InvalidError, type JsonValue, NotFoundError } from '@cordum/core';
import { JOB_STATES, type JobState } from '@cordum/protocol';
import type { JobRecord, JobStore, JobTimer, NewJob, TransitionRequest } from '@cordum/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ErrorClass, allPages, expectRejection } from './assertions.js';
import type { PortFactory, PortFixture } from './fixture.js';
import { describeJobSlotsContract } from './job-slots.js';

// The JobStore contract: every adapter passes exactly this. Build the factory with a short
// StoreOptions.jobRetentionMs (at most a few seconds; 1000 ms is a good value): the retention test waits
// until terminal jobs disappear, and other tests only look at terminal jobs right after writing them.

/** A rejection of class `cls` and code `code` whose message says something. */
async function expectError(promise: Promise<unknown>, cls: ErrorClass, code: string): Promise<CordumError> {
  const err = await expectRejection(promise, cls, code);
  expect(err.message).not.toBe('');
  return err;
}

function job(id: string, extra: Partial<NewJob> = {}): NewJob {
  return { id, tenant: 'acme', topic: 'job.default', ...extra };
}

function move(from: JobState | JobState[], to: JobState, extra: Partial<TransitionRequest> = {}): TransitionRequest {
  return { from, to, actor: 'test', ...extra };
}

/** Newest created first, ties by id descending: the order every listing promises. */
function newestFirst(a: JobRecord, b: JobRecord): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

async function listAll(store: JobStore, query: Parameters<JobStore['list']>[0]): Promise<JobRecord[]> {
  const { items } = await allPages((cursor) => store.list({ ...query, cursor }), { from: query.cursor ?? null });
  return items;
}

/** For every state, the ids list({tenant, state}) returns. */
async function idsByState(store: JobStore, tenant: string): Promise<Record<JobState, string[]>> {
  const entries = await Promise.all(
    JOB_STATES.map(async (state) => [state, (await listAll(store, { tenant, state })).map((j) => j.id)] as const),
  );
  return Object.fromEntries(entries) as Record<JobState, string[]>;
}

function onlyIn(state: JobState, id: string): Record<JobState, string[]> {
  const out = Object.fromEntries(JOB_STATES.map((s) => [s, [] as string[]])) as Record<JobState, string[]>;
  out[state] = [id];
  return out;
}

function countsWith(values: Partial<Record<JobState, number>>): Record<JobState, number> {
  return { ...(Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>), ...values };
}

export function runJobStoreContract(label: string, factory: PortFactory<JobStore>): void {
  describe(`JobStore contract: ${label}`, () => {
    let fx: PortFixture<JobStore>;
    let store: JobStore;

    beforeEach(async () => {
      fx = await factory();
      store = fx.port;
    });
    afterEach(async () => {
      await fx.close();
    });

    describeJobSlotsContract(() => fx);

    describe('create and get', () => {
      it('creates a PENDING job at version 1 stamped with the store clock', async () => {
        const t0 = await store.now();
        const created = await store.create(job('j-1', { actor: 'gateway', reason: 'submitted' }));
        const t1 = await store.now();
        expect(created).toMatchObject({
          id: 'j-1',
          tenant: 'acme',
          topic: 'job.default',
          state: 'PENDING',
          version: 1,
          attempts: 0,
          waitReason: null,
          dueAt: null,
          leaseExpiresAt: null,
          deadlineAt: null,
          workerId: null,
          resultPtr: null,
          errorCode: null,
          errorMessage: null,
          labels: {},
          data: {},
        });
        expect(created.traceId).toMatch(/^[0-9a-f]{32}$/);
        expect(created.createdAt).toBeGreaterThanOrEqual(t0);
        expect(created.createdAt).toBeLessThanOrEqual(t1);
        expect(created.updatedAt).toBe(created.createdAt);
        expect(await store.get('j-1')).toEqual(created);
        expect(await store.events('j-1')).toEqual([
          { at: created.createdAt, from: null, to: 'PENDING', actor: 'gateway', reason: 'submitted', attempt: 0, version: 1 },
        ]);
      });

      it('round-trips every optional field, including JSON that a naive encoder would alter', async () => {
        const data: Record<string, JsonValue> = {
          empty: [],
          emptyObject: {},
          nested: { list: [1, 'two', null, { deep: true }], n: -0.5 },
          big: Number.MAX_SAFE_INTEGER,
          tiny: 1e-7,
          text: 'héllo ✓ "quoted" \\ / \n line',
          nothing: null,
        };
        // A caller-supplied "__proto__" key must stay a data key (JSON.parse makes it an own property).
        const withProto = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, JsonValue>;
        const input = job('j-full', {
          traceId: '0af7651916cd43dd8448eb211c80319c',
          labels: { team: 'infra', 'with space': 'v', empty: '' },
          data: { ...data, ...withProto },
          dueAt: 1_000,
          deadlineAt: 2_000,
          waitReason: 'throttled',
        });
        const created = await store.create(input);
        expect(created.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
        expect(created.labels).toEqual({ team: 'infra', 'with space': 'v', empty: '' });
        expect(created.data).toEqual({ ...data, ...withProto });
        expect(Object.prototype.hasOwnProperty.call(created.data, '__proto__')).toBe(true);
        expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
        expect(created).toMatchObject({ dueAt: 1_000, deadlineAt: 2_000, waitReason: 'throttled' });
        expect(await store.get('j-full')).toEqual(created);
      });

      it('records a job rejected at intake in its terminal state, inactive and on no timer', async () => {
        const created = await store.create(
          job('j-denied', { state: 'DENIED', dueAt: 1, deadlineAt: 1, actor: 'scheduler', reason: 'policy' }),
        );
        expect(created.state).toBe('DENIED');
        expect(await store.countActive('acme')).toBe(0);
        expect(await store.countByState('acme')).toEqual(countsWith({ DENIED: 1 }));
        expect(await store.listTimers('due', { before: 10 })).toEqual([]);
        expect(await store.listTimers('deadline', { before: 10 })).toEqual([]);
        expect((await store.list({ tenant: 'acme', state: 'DENIED' })).items.map((j) => j.id)).toEqual(['j-denied']);
        expect(await store.events('j-denied')).toEqual([
          { at: created.createdAt, from: null, to: 'DENIED', actor: 'scheduler', reason: 'policy', attempt: 0, version: 1 },
        ]);
      });

      it('rejects an initial state other than PENDING or terminal', async () => {
        for (const state of ['SCHEDULED', 'APPROVAL_REQUIRED', 'DISPATCHED', 'RUNNING'] as const) {
          await expectError(store.create(job(`j-${state}`, { state })), InvalidError, 'invalid_argument');
        }
        await expectError(store.create(job('j-bogus', { state: 'BOGUS' as JobState })), InvalidError, 'invalid_argument');
        expect(await store.countByState()).toEqual(countsWith({}));
      });

      it('rejects bad ids, tenants, topics and field values without writing anything', async () => {
        const bad: NewJob[] = [
          job(''),
          job(' space'),
          job('a/b'),
          job('x'.repeat(201)),
          job('ok', { tenant: '' }),
          job('ok', { tenant: 'a:b' }),
          job('ok', { tenant: 'x'.repeat(65) }),
          job('ok', { topic: '' }),
          job('ok', { dueAt: -1 }),
          job('ok', { deadlineAt: 1.5 }),
          job('ok', { dueAt: Number.NaN }),
          job('ok', { waitReason: 'sleepy' as never }),
          job('ok', { labels: { n: 5 as unknown as string } }),
        ];
        for (const input of bad) {
          const err = await expectError(store.create(input), InvalidError, 'invalid_argument');
          expect(err.message.length).toBeGreaterThan(0);
        }
        expect(await store.get('ok')).toBeUndefined();
        expect(await store.countByState()).toEqual(countsWith({}));
      });

      it('refuses a duplicate id in the same or another tenant and leaves the original alone', async () => {
        const original = await store.create(job('dup', { labels: { v: '1' } }));
        await expectError(store.create(job('dup', { labels: { v: '2' } })), ConflictError, 'already_exists');
        await expectError(store.create(job('dup', { tenant: 'other' })), ConflictError, 'already_exists');
        expect(await store.get('dup')).toEqual(original);
        expect(await store.countByState('other')).toEqual(countsWith({}));
        expect(await store.events('dup')).toHaveLength(1);
      });

      it('lets exactly one of many concurrent creates of one id win', async () => {
        const views = [store, fx.twin(), fx.twin(), fx.twin()];
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) =>
            views[i % views.length]!.create(job('race', { tenant: `t${i % 3}`, labels: { n: String(i) } })),
          ),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') {
            expect(r.reason).toBeInstanceOf(ConflictError);
            expect((r.reason as CordumError).code).toBe('already_exists');
          }
        }
        const winner = (won[0] as PromiseFulfilledResult<JobRecord>).value;
        expect(await store.get('race')).toEqual(winner);
        const total = await store.countByState();
        expect(total.PENDING).toBe(1);
      });

      it('never shares objects with the caller', async () => {
        const labels: Record<string, string> = { a: '1' };
        const data: Record<string, JsonValue> = { obj: { n: 1 } };
        const created = await store.create(job('copy', { labels, data }));
        labels['a'] = 'changed';
        (data['obj'] as Record<string, JsonValue>)['n'] = 2;
        (created.labels as Record<string, string>)['a'] = 'mutated';
        (created.data['obj'] as Record<string, JsonValue>)['n'] = 3;
        const read = await store.get('copy');
        expect(read?.labels).toEqual({ a: '1' });
        expect(read?.data).toEqual({ obj: { n: 1 } });
        (read?.labels as Record<string, string>)['a'] = 'again';
        const events = await store.events('copy');
        (events[0] as { actor: string }).actor = 'mutated';
        expect((await store.get('copy'))?.labels).toEqual({ a: '1' });
        expect((await store.events('copy'))[0]?.actor).toBe('');
      });

      it('answers undefined for unknown or impossible ids', async () => {
        expect(await store.get('nope')).toBeUndefined();
        expect(await store.get('a b/c')).toBeUndefined();
        expect(await store.get('')).toBeUndefined();
      });

      it('is visible to another instance over the same backend', async () => {
        const created = await store.create(job('shared', { tenant: 'beta' }));
        const other = fx.twin();
        expect(await other.get('shared')).toEqual(created);
        const moved = await other.transition('shared', move('PENDING', 'SCHEDULED'));
        expect(await store.get('shared')).toEqual(moved);
      });
    });

    describe('transition', () => {
      it('moves the state, bumps the version and appends one event', async () => {
        const created = await store.create(job('t-1'));
        await fx.elapse(2);
        const moved = await store.transition('t-1', move('PENDING', 'SCHEDULED', { actor: 'scheduler', reason: 'routed' }));
        expect(moved).toMatchObject({ state: 'SCHEDULED', version: 2, attempts: 0, createdAt: created.createdAt });
        expect(moved.updatedAt).toBeGreaterThan(created.updatedAt);
        expect(await store.get('t-1')).toEqual(moved);
        const events = await store.events('t-1');
        expect(events).toHaveLength(2);
        expect(events[1]).toEqual({
          at: moved.updatedAt,
          from: 'PENDING',
          to: 'SCHEDULED',
          actor: 'scheduler',
          reason: 'routed',
          attempt: 0,
          version: 2,
        });
      });

      it('accepts any of several expected states', async () => {
        await store.create(job('t-any'));
        const moved = await store.transition('t-any', move(['RUNNING', 'PENDING'], 'CANCELLED'));
        expect(moved.state).toBe('CANCELLED');
      });

      it('fails with state_conflict when the job is not in an expected state, writing nothing', async () => {
        await store.create(job('t-c'));
        const before = await store.get('t-c');
        const err = await expectError(
          store.transition('t-c', move(['SCHEDULED', 'DISPATCHED'], 'RUNNING')),
          ConflictError,
          'state_conflict',
        );
        expect(err.details).toMatchObject({ current_state: 'PENDING', current_version: 1 });
        expect(err.message).toContain('PENDING');
        expect(await store.get('t-c')).toEqual(before);
        expect(await store.events('t-c')).toHaveLength(1);
      });

      it('checks expectedVersion as part of the compare-and-set', async () => {
        await store.create(job('t-v'));
        await store.transition('t-v', move('PENDING', 'PENDING', { patch: { waitReason: 'no_workers' } }));
        const err = await expectError(
          store.transition('t-v', move('PENDING', 'SCHEDULED', { expectedVersion: 1 })),
          ConflictError,
          'state_conflict',
        );
        expect(err.details).toMatchObject({ current_state: 'PENDING', current_version: 2 });
        expect((await store.get('t-v'))?.state).toBe('PENDING');
        const moved = await store.transition('t-v', move('PENDING', 'SCHEDULED', { expectedVersion: 2 }));
        expect(moved).toMatchObject({ state: 'SCHEDULED', version: 3 });
      });

      it('fails with invalid_transition when the state machine forbids the move', async () => {
        await store.create(job('t-i'));
        const err = await expectError(store.transition('t-i', move('PENDING', 'RUNNING')), InvalidError, 'invalid_transition');
        expect(err.details).toMatchObject({ current_state: 'PENDING', to: 'RUNNING' });
        expect(await store.get('t-i')).toMatchObject({ state: 'PENDING', version: 1 });

        await store.transition('t-i', move('PENDING', 'CANCELLED'));
        // A terminal job never changes, not even by a same-state patch.
        await expectError(
          store.transition('t-i', move('CANCELLED', 'CANCELLED', { patch: { errorCode: 'x' } })),
          InvalidError,
          'invalid_transition',
        );
        await expectError(store.transition('t-i', move('CANCELLED', 'PENDING')), InvalidError, 'invalid_transition');
        expect(await store.get('t-i')).toMatchObject({ state: 'CANCELLED', version: 2, errorCode: null });
        expect(await store.events('t-i')).toHaveLength(2);
      });

      it('passes through a via state in one write: two events, both steps checked', async () => {
        await store.create(job('t-via'));
        const via = { state: 'SCHEDULED' as const, reason: 'attempt 1 to job.x' };
        const moved = await store.transition('t-via', move('PENDING', 'DISPATCHED', { reason: 'dispatching', via, patch: { incrementAttempts: true } }));
        expect(moved).toMatchObject({ state: 'DISPATCHED', version: 2, attempts: 1 });
        const events = await store.events('t-via');
        expect(events.slice(1).map((e) => [e.from, e.to, e.reason, e.version])).toEqual([
          ['PENDING', 'SCHEDULED', 'attempt 1 to job.x', 2],
          ['SCHEDULED', 'DISPATCHED', 'dispatching', 2],
        ]);
        expect((await store.countByState('acme')).DISPATCHED).toBeGreaterThanOrEqual(1);
        expect((await store.countByState('acme')).SCHEDULED).toBe(0);
        // Already in the via state: only the second step.
        await store.create(job('t-via2'));
        await store.transition('t-via2', move('PENDING', 'SCHEDULED'));
        await store.transition('t-via2', move('SCHEDULED', 'DISPATCHED', { reason: 'dispatching', via }));
        expect((await store.events('t-via2')).slice(2).map((e) => [e.from, e.to])).toEqual([['SCHEDULED', 'DISPATCHED']]);
        // A forbidden first step fails the whole write.
        await store.create(job('t-via3'));
        await store.transition('t-via3', move('PENDING', 'SCHEDULED'));
        await store.transition('t-via3', move('SCHEDULED', 'DISPATCHED'));
        await expectError(
          store.transition('t-via3', move('DISPATCHED', 'RUNNING', { via: { state: 'PENDING', reason: 'x' } })),
          InvalidError,
          'invalid_transition',
        );
        expect(await store.get('t-via3')).toMatchObject({ state: 'DISPATCHED', version: 3 });
        await expectError(store.transition('t-via3', move('DISPATCHED', 'RUNNING', { via: { state: 'BOGUS' as 'PENDING', reason: '' } })), InvalidError, 'invalid_argument');
      });

      it('fails with not_found for an unknown job', async () => {
        const err = await expectError(store.transition('ghost', move('PENDING', 'SCHEDULED')), NotFoundError, 'not_found');
        expect(err.message).toContain('ghost');
        await expectError(store.transition('bad id', move('PENDING', 'SCHEDULED')), NotFoundError, 'not_found');
      });

      it('rejects malformed requests before looking at the job', async () => {
        await store.create(job('t-bad'));
        const bad: TransitionRequest[] = [
          move([], 'SCHEDULED'),
          move('PENDING', 'BOGUS' as JobState),
          move('NOPE' as JobState, 'SCHEDULED'),
          move('PENDING', 'SCHEDULED', { expectedVersion: 0 }),
          move('PENDING', 'SCHEDULED', { patch: { dueAt: -5 } }),
          move('PENDING', 'SCHEDULED', { patch: { leaseExpiresAt: Number.POSITIVE_INFINITY } }),
          move('PENDING', 'SCHEDULED', { patch: { waitReason: 'bored' as never } }),
          move('PENDING', 'SCHEDULED', { patch: { workerId: 7 as unknown as string } }),
          move('PENDING', 'SCHEDULED', { patch: { labels: { a: 1 as unknown as string } } }),
        ];
        for (const request of bad) {
          await expectError(store.transition('t-bad', request), InvalidError, 'invalid_argument');
        }
        expect(await store.get('t-bad')).toMatchObject({ state: 'PENDING', version: 1 });
      });

      it('writes a same-state patch without an event, unless a reason is given', async () => {
        await store.create(job('t-same'));
        const patched = await store.transition('t-same', move('PENDING', 'PENDING', { patch: { waitReason: 'no_workers' } }));
        expect(patched).toMatchObject({ state: 'PENDING', version: 2, waitReason: 'no_workers' });
        expect(await store.events('t-same')).toHaveLength(1);
        const noted = await store.transition(
          't-same',
          move('PENDING', 'PENDING', { patch: { waitReason: 'throttled' }, reason: 'tenant over its rate' }),
        );
        const events = await store.events('t-same');
        expect(events).toHaveLength(2);
        expect(events[1]).toMatchObject({ from: 'PENDING', to: 'PENDING', reason: 'tenant over its rate', version: 3 });
        expect(noted.version).toBe(3);
      });

      it('applies patches: omitted fields stay, null clears, labels and data merge by key', async () => {
        await store.create(
          job('t-p', {
            labels: { a: '1', b: '2' },
            data: { x: 1, y: { deep: true, keep: 1 }, z: 'keep' },
            waitReason: 'no_workers',
            dueAt: 5_000,
          }),
        );
        const first = await store.transition(
          't-p',
          move('PENDING', 'SCHEDULED', {
            patch: {
              waitReason: null,
              workerId: 'w-1',
              resultPtr: 'redis://res:t-p',
              errorCode: 'E1',
              errorMessage: 'boom',
              leaseExpiresAt: 9_000,
              labels: { a: null, c: '3' },
              data: { x: null, y: { other: 1 }, w: [] },
              incrementAttempts: true,
            },
          }),
        );
        expect(first).toMatchObject({
          state: 'SCHEDULED',
          version: 2,
          attempts: 1,
          waitReason: null,
          dueAt: 5_000,
          workerId: 'w-1',
          resultPtr: 'redis://res:t-p',
          errorCode: 'E1',
          errorMessage: 'boom',
          leaseExpiresAt: 9_000,
        });
        expect(first.labels).toEqual({ b: '2', c: '3' });
        expect(first.data).toEqual({ y: { other: 1 }, z: 'keep', w: [] });
        const second = await store.transition(
          't-p',
          move('SCHEDULED', 'DISPATCHED', { patch: { workerId: null, dueAt: null, incrementAttempts: true } }),
        );
        expect(second).toMatchObject({ attempts: 2, workerId: null, dueAt: null, errorMessage: 'boom', version: 3 });
        expect(second.labels).toEqual({ b: '2', c: '3' });
        expect(await store.get('t-p')).toEqual(second);
        const events = await store.events('t-p');
        expect(events.map((e) => [e.to, e.attempt, e.version])).toEqual([
          ['PENDING', 0, 1],
          ['SCHEDULED', 1, 2],
          ['DISPATCHED', 2, 3],
        ]);
      });

      it('walks the whole lifecycle, recording every step in order', async () => {
        await store.create(job('life', { actor: 'gateway' }));
        const path: Array<[JobState, JobState, boolean]> = [
          ['PENDING', 'APPROVAL_REQUIRED', false],
          ['APPROVAL_REQUIRED', 'PENDING', false],
          ['PENDING', 'SCHEDULED', false],
          ['SCHEDULED', 'DISPATCHED', true],
          ['DISPATCHED', 'RUNNING', false],
          ['RUNNING', 'SCHEDULED', false],
          ['SCHEDULED', 'DISPATCHED', true],
          ['DISPATCHED', 'RUNNING', false],
          ['RUNNING', 'SUCCEEDED', false],
        ];
        for (const [from, to, attempt] of path) {
          await store.transition('life', move(from, to, { actor: `actor-${to}`, patch: { incrementAttempts: attempt } }));
        }
        const final = await store.get('life');
        expect(final).toMatchObject({ state: 'SUCCEEDED', version: 10, attempts: 2 });
        const events = await store.events('life');
        expect(events.map((e) => [e.from, e.to, e.version])).toEqual([
          [null, 'PENDING', 1],
          ...path.map(([from, to], i) => [from, to, i + 2]),
        ]);
        expect(events.every((e, i) => i === 0 || e.at >= (events[i - 1]?.at ?? 0))).toBe(true);
        expect(await idsByState(store, 'acme')).toEqual(onlyIn('SUCCEEDED', 'life'));
        expect(await store.countActive('acme')).toBe(0);
      });
    });

    describe('concurrent compare-and-set', () => {
      async function race(requests: TransitionRequest[]): Promise<{ winners: JobRecord[]; losers: CordumError[] }> {
        const views = [store, fx.twin(), fx.twin(), fx.twin(), fx.twin()];
        const results = await Promise.allSettled(
          requests.map((request, i) => views[i % views.length]!.transition('hot', request)),
        );
        const winners: JobRecord[] = [];
        const losers: CordumError[] = [];
        for (const r of results) {
          if (r.status === 'fulfilled') winners.push(r.value);
          else losers.push(r.reason as CordumError);
        }
        return { winners, losers };
      }

      async function expectSingleIndexEntry(state: JobState, active: boolean): Promise<void> {
        expect(await idsByState(store, 'acme')).toEqual(onlyIn(state, 'hot'));
        expect(await store.countByState('acme')).toEqual(countsWith({ [state]: 1 }));
        expect(await store.countByState()).toEqual(countsWith({ [state]: 1 }));
        expect(await store.countActive('acme')).toBe(active ? 1 : 0);
        expect((await store.list({ tenant: 'acme' })).items.map((j) => j.id)).toEqual(['hot']);
      }

      it('50 writers moving PENDING → SCHEDULED: one wins, 49 get state_conflict', async () => {
        await store.create(job('hot'));
        const { winners, losers } = await race(
          Array.from({ length: 50 }, (_, i) => move('PENDING', 'SCHEDULED', { actor: `w${i}`, patch: { workerId: `w${i}` } })),
        );
        expect(winners).toHaveLength(1);
        expect(losers).toHaveLength(49);
        for (const err of losers) {
          expect(err).toBeInstanceOf(ConflictError);
          expect(err.code).toBe('state_conflict');
          expect(err.details).toMatchObject({ current_state: 'SCHEDULED', current_version: 2 });
        }
        const final = await store.get('hot');
        expect(final).toEqual(winners[0]);
        expect(final).toMatchObject({ state: 'SCHEDULED', version: 2 });
        expect(final?.workerId).toBe((await store.events('hot'))[1]?.actor);
        expect(await store.events('hot')).toHaveLength(2);
        await expectSingleIndexEntry('SCHEDULED', true);
      });

      it('50 writers racing to different targets: one wins and the job sits in exactly one state index', async () => {
        await store.create(job('hot', { dueAt: 1, deadlineAt: 2 }));
        const targets: JobState[] = ['SCHEDULED', 'APPROVAL_REQUIRED', 'CANCELLED', 'DENIED', 'FAILED', 'TIMEOUT'];
        const { winners, losers } = await race(
          Array.from({ length: 50 }, (_, i) => move('PENDING', targets[i % targets.length]!, { actor: `w${i}` })),
        );
        expect(winners).toHaveLength(1);
        expect(losers).toHaveLength(49);
        expect(losers.every((e) => e instanceof ConflictError && e.code === 'state_conflict')).toBe(true);
        const state = winners[0]!.state;
        expect(await store.get('hot')).toMatchObject({ state, version: 2 });
        expect(await store.events('hot')).toHaveLength(2);
        const terminal = ['CANCELLED', 'DENIED', 'FAILED', 'TIMEOUT'].includes(state);
        await expectSingleIndexEntry(state, !terminal);
        const timers = await store.listTimers('due', { before: 10 });
        expect(timers.map((t) => t.id)).toEqual(terminal ? [] : ['hot']);
      });

      it('50 same-state writers bound to one version: one wins', async () => {
        await store.create(job('hot'));
        const { winners, losers } = await race(
          Array.from({ length: 50 }, (_, i) =>
            move('PENDING', 'PENDING', { expectedVersion: 1, patch: { labels: { writer: String(i) } } }),
          ),
        );
        expect(winners).toHaveLength(1);
        expect(losers.every((e) => e instanceof ConflictError && e.code === 'state_conflict')).toBe(true);
        expect((await store.get('hot'))?.labels).toEqual(winners[0]!.labels);
        expect((await store.get('hot'))?.version).toBe(2);
        await expectSingleIndexEntry('PENDING', true);
      });

      it('concurrent same-state writes without a version all apply, each bumping the version once', async () => {
        await store.create(job('hot'));
        const { winners, losers } = await race(
          Array.from({ length: 50 }, (_, i) => move('PENDING', 'PENDING', { patch: { labels: { [`k${i}`]: 'x' } } })),
        );
        expect(losers).toEqual([]);
        expect(winners.map((w) => w.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
        expect(Object.keys((await store.get('hot'))?.labels ?? {})).toHaveLength(50);
      });
    });

    describe('events', () => {
      it('returns [] for an unknown job', async () => {
        expect(await store.events('unknown')).toEqual([]);
        expect(await store.events('not an id')).toEqual([]);
      });

      it('returns the newest `limit` events, oldest first', async () => {
        await store.create(job('ev'));
        await store.transition('ev', move('PENDING', 'SCHEDULED'));
        await store.transition('ev', move('SCHEDULED', 'DISPATCHED'));
        await store.transition('ev', move('DISPATCHED', 'RUNNING'));
        const last2 = await store.events('ev', { limit: 2 });
        expect(last2.map((e) => e.to)).toEqual(['DISPATCHED', 'RUNNING']);
        expect((await store.events('ev', { limit: 1000 })).map((e) => e.version)).toEqual([1, 2, 3, 4]);
      });

      it('rejects a limit outside 1..1000', async () => {
        await store.create(job('ev'));
        for (const limit of [0, -1, 1001, 2.5]) {
          await expectError(store.events('ev', { limit }), InvalidError, 'invalid_argument');
        }
      });

      it('keeps the newest 1000 events of a busy job', async () => {
        await store.create(job('busy'));
        const views = [store, fx.twin(), fx.twin()];
        await Promise.all(
          Array.from({ length: 1004 }, (_, i) =>
            views[i % views.length]!.transition('busy', move('PENDING', 'PENDING', { reason: `poll ${i}` })),
          ),
        );
        expect((await store.get('busy'))?.version).toBe(1005);
        const events = await store.events('busy');
        expect(events).toHaveLength(1000);
        expect(events.map((e) => e.version)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 6));
        expect((await store.events('busy', { limit: 3 })).map((e) => e.version)).toEqual([1003, 1004, 1005]);
      });
    });

    describe('list', () => {
      async function seed(): Promise<JobRecord[]> {
        // Three bursts: jobs inside a burst may share a millisecond (ties order by id).
        const made: JobRecord[] = [];
        for (let burst = 0; burst < 3; burst++) {
          const batch = await Promise.all(
            Array.from({ length: 8 }, (_, i) => {
              const n = burst * 8 + i;
              return store.create(
                job(`job-${String(n).padStart(2, '0')}`, { topic: n % 2 === 0 ? 'even' : 'odd' }),
              );
            }),
          );
          made.push(...batch);
          await fx.elapse(3);
        }
        return made;
      }

      it('pages newest first with an opaque cursor, without duplicates or gaps', async () => {
        const made = await seed();
        await store.create(job('elsewhere', { tenant: 'other' }));
        const expected = [...made].sort(newestFirst).map((j) => j.id);
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page = await store.list({ tenant: 'acme', limit: 7, cursor });
          expect(page.items.length).toBeLessThanOrEqual(7);
          seen.push(...page.items.map((j) => j.id));
          cursor = page.nextCursor;
          pages += 1;
        } while (cursor !== null && pages < 20);
        expect(pages).toBe(4);
        expect(seen).toEqual(expected);
        const exact = await store.list({ tenant: 'acme', limit: 24 });
        expect(exact.items).toHaveLength(24);
        expect(exact.nextCursor).toBeNull();
        expect((await store.list({ tenant: 'acme' })).items).toHaveLength(24);
        expect((await store.list({ tenant: 'acme' })).items[0]).toEqual(await store.get(expected[0]!));
      });

      it('keeps pagination stable while listed jobs change state', async () => {
        const made = await seed();
        const expected = [...made].sort(newestFirst).map((j) => j.id);
        const first = await store.list({ tenant: 'acme', limit: 10 });
        for (const j of first.items) await store.transition(j.id, move('PENDING', 'SCHEDULED'));
        const rest = await listAll(store, { tenant: 'acme', limit: 10, cursor: first.nextCursor });
        expect([...first.items, ...rest].map((j) => j.id)).toEqual(expected);
      });

      it('filters by state, topic, both, and inclusive creation bounds', async () => {
        const made = await seed();
        for (const j of made.slice(0, 6)) await store.transition(j.id, move('PENDING', 'SCHEDULED'));
        const scheduled = new Set(made.slice(0, 6).map((j) => j.id));
        const expectIds = (pred: (j: JobRecord) => boolean): string[] =>
          [...made].filter(pred).sort(newestFirst).map((j) => j.id);

        expect((await listAll(store, { tenant: 'acme', state: 'SCHEDULED', limit: 4 })).map((j) => j.id)).toEqual(
          expectIds((j) => scheduled.has(j.id)),
        );
        expect((await listAll(store, { tenant: 'acme', state: 'PENDING', limit: 5 })).map((j) => j.id)).toEqual(
          expectIds((j) => !scheduled.has(j.id)),
        );
        expect((await listAll(store, { tenant: 'acme', topic: 'odd', limit: 3 })).map((j) => j.id)).toEqual(
          expectIds((j) => j.topic === 'odd'),
        );
        expect(
          (await listAll(store, { tenant: 'acme', topic: 'even', state: 'SCHEDULED', limit: 2 })).map((j) => j.id),
        ).toEqual(expectIds((j) => j.topic === 'even' && scheduled.has(j.id)));
        expect((await store.list({ tenant: 'acme', topic: 'none' })).items).toEqual([]);
        expect((await store.list({ tenant: 'acme', state: 'RUNNING' })).items).toEqual([]);

        // Creation bounds are inclusive on both ends.
        const times = [...new Set(made.map((j) => j.createdAt))].sort((a, b) => a - b);
        const mid = times[Math.floor(times.length / 2)]!;
        expect((await listAll(store, { tenant: 'acme', createdAfter: mid, limit: 5 })).map((j) => j.id)).toEqual(
          expectIds((j) => j.createdAt >= mid),
        );
        expect((await listAll(store, { tenant: 'acme', createdBefore: mid, limit: 5 })).map((j) => j.id)).toEqual(
          expectIds((j) => j.createdAt <= mid),
        );
        expect(
          (await listAll(store, { tenant: 'acme', createdAfter: mid, createdBefore: mid, limit: 2 })).map((j) => j.id),
        ).toEqual(expectIds((j) => j.createdAt === mid));
        expect(
          (
            await listAll(store, { tenant: 'acme', createdAfter: times[0]!, createdBefore: mid, topic: 'even', limit: 2 })
          ).map((j) => j.id),
        ).toEqual(expectIds((j) => j.createdAt <= mid && j.topic === 'even'));
        expect((await store.list({ tenant: 'acme', createdAfter: mid + 1_000_000 })).items).toEqual([]);
      });

      it('isolates tenants', async () => {
        await store.create(job('mine', { tenant: 'a' }));
        await store.create(job('yours', { tenant: 'b' }));
        expect((await store.list({ tenant: 'a' })).items.map((j) => j.id)).toEqual(['mine']);
        expect((await store.list({ tenant: 'b' })).items.map((j) => j.id)).toEqual(['yours']);
        expect((await store.list({ tenant: 'c' })).items).toEqual([]);
        expect(await store.countActive('a')).toBe(1);
        expect(await store.countByState('b')).toEqual(countsWith({ PENDING: 1 }));
        expect(await store.countByState()).toEqual(countsWith({ PENDING: 2 }));
      });

      it('rejects bad queries', async () => {
        const bad = [
          { tenant: '' },
          { tenant: 'a:b' },
          { tenant: 'acme', limit: 0 },
          { tenant: 'acme', limit: 1001 },
          { tenant: 'acme', limit: 1.5 },
          { tenant: 'acme', cursor: 'not-a-cursor' },
          { tenant: 'acme', cursor: Buffer.from('{"c":"x"}').toString('base64url') },
          { tenant: 'acme', state: 'BOGUS' as JobState },
          { tenant: 'acme', createdAfter: -1 },
          { tenant: 'acme', createdBefore: Number.NaN },
        ];
        for (const query of bad) {
          await expectError(store.list(query), InvalidError, 'invalid_argument');
        }
      });
    });

    describe('counts', () => {
      it('counts active jobs and jobs per state, per tenant and overall', async () => {
        await store.create(job('c1'));
        await store.create(job('c2'));
        await store.create(job('c3'));
        await store.create(job('c4', { tenant: 'other' }));
        await store.create(job('c5', { state: 'FAILED' }));
        await store.transition('c2', move('PENDING', 'SCHEDULED'));
        await store.transition('c3', move('PENDING', 'CANCELLED'));
        expect(await store.countActive('acme')).toBe(2);
        expect(await store.countActive('other')).toBe(1);
        expect(await store.countActive('nobody')).toBe(0);
        expect(await store.countByState('acme')).toEqual(countsWith({ PENDING: 1, SCHEDULED: 1, CANCELLED: 1, FAILED: 1 }));
        expect(await store.countByState()).toEqual(countsWith({ PENDING: 2, SCHEDULED: 1, CANCELLED: 1, FAILED: 1 }));
        expect(await store.countByState('nobody')).toEqual(countsWith({}));
        await expectError(store.countActive('bad tenant'), InvalidError, 'invalid_argument');
        await expectError(store.countByState('bad:tenant'), InvalidError, 'invalid_argument');
      });
    });

    describe('timers', () => {
      it('lists due jobs of every tenant, earliest first, up to `before` inclusive', async () => {
        await store.create(job('d-300', { tenant: 'a', dueAt: 300 }));
        await store.create(job('d-100', { tenant: 'b', dueAt: 100 }));
        await store.create(job('d-200', { tenant: 'a', dueAt: 200 }));
        await store.create(job('d-none', { tenant: 'a' }));
        await store.create(job('dl-150', { tenant: 'c', deadlineAt: 150 }));
        expect(await store.listTimers('due', { before: 200 })).toEqual([
          { id: 'd-100', tenant: 'b', at: 100 },
          { id: 'd-200', tenant: 'a', at: 200 },
        ]);
        expect(await store.listTimers('due', { before: 199 })).toEqual([{ id: 'd-100', tenant: 'b', at: 100 }]);
        expect(await store.listTimers('due', { before: 10_000, limit: 2 })).toEqual([
          { id: 'd-100', tenant: 'b', at: 100 },
          { id: 'd-200', tenant: 'a', at: 200 },
        ]);
        expect(await store.listTimers('deadline', { before: 10_000 })).toEqual([{ id: 'dl-150', tenant: 'c', at: 150 }]);
        expect(await store.listTimers('lease', { before: 10_000 })).toEqual([]);
      });

      it('defaults `before` to the store clock', async () => {
        const now = await store.now();
        await store.create(job('past', { dueAt: now - 1_000 }));
        await store.create(job('future', { dueAt: now + 3_600_000 }));
        expect((await store.listTimers('due')).map((t) => t.id)).toEqual(['past']);
      });

      it('follows the record: set, moved, cleared, and dropped at a terminal state', async () => {
        await store.create(job('tm', { dueAt: 500, deadlineAt: 900 }));
        await store.transition('tm', move('PENDING', 'SCHEDULED', { patch: { dueAt: null } }));
        expect(await store.listTimers('due', { before: 10_000 })).toEqual([]);
        await store.transition('tm', move('SCHEDULED', 'DISPATCHED', { patch: { leaseExpiresAt: 700 } }));
        expect(await store.listTimers('lease', { before: 10_000 })).toEqual([{ id: 'tm', tenant: 'acme', at: 700 }]);
        await store.transition('tm', move('DISPATCHED', 'RUNNING', { patch: { leaseExpiresAt: 800 } }));
        expect(await store.listTimers('lease', { before: 10_000 })).toEqual([{ id: 'tm', tenant: 'acme', at: 800 }]);
        await store.transition('tm', move('RUNNING', 'RUNNING', { patch: { leaseExpiresAt: null } }));
        expect(await store.listTimers('lease', { before: 10_000 })).toEqual([]);
        await store.transition('tm', move('RUNNING', 'RUNNING', { patch: { leaseExpiresAt: 850, dueAt: 860 } }));
        expect((await store.listTimers('lease', { before: 10_000 })).map((t) => t.at)).toEqual([850]);
        const done = await store.transition('tm', move('RUNNING', 'TIMEOUT'));
        // The record keeps its timer fields; the indexes drop the job.
        expect(done).toMatchObject({ leaseExpiresAt: 850, dueAt: 860, deadlineAt: 900 });
        for (const timer of ['due', 'lease', 'deadline'] as const) {
          expect(await store.listTimers(timer, { before: 10_000 })).toEqual([]);
        }
      });

      it('rejects an unknown timer or a bad limit', async () => {
        await expectError(store.listTimers('soon' as JobTimer), InvalidError, 'invalid_argument');
        await expectError(store.listTimers('due', { limit: 0 }), InvalidError, 'invalid_argument');
        await expectError(store.listTimers('due', { before: -3 }), InvalidError, 'invalid_argument');
      });
    });

    describe('clock', () => {
      it('reports the store clock, which moves with time', async () => {
        const a = await store.now();
        expect(Math.abs(a - Date.now())).toBeLessThan(60_000);
        await fx.elapse(25);
        const b = await store.now();
        expect(b - a).toBeGreaterThanOrEqual(24);
        const created = await store.create(job('clock'));
        expect(created.createdAt).toBeGreaterThanOrEqual(b);
      });
    });

    describe('retention', () => {
      it('forgets terminal jobs after the retention period, with their events and index entries', async () => {
        // A topic with separators in it, as a reminder that topics are free-form.
        const SHARED = 'shared|topic:with.separators';
        const keep = await store.create(job('keep', { dueAt: 1, topic: SHARED }));
        await store.create(job('rejected', { state: 'DENIED', topic: SHARED }));
        await store.create(job('done', { topic: SHARED }));
        await store.transition('done', move('PENDING', 'CANCELLED'));
        expect(await store.countByState('acme')).toEqual(countsWith({ PENDING: 1, DENIED: 1, CANCELLED: 1 }));
        expect((await store.list({ tenant: 'acme', topic: SHARED })).items).toHaveLength(3);

        let waited = 0;
        while (waited < 10_000) {
          await fx.elapse(50);
          waited += 50;
          if ((await store.get('done')) === undefined && (await store.get('rejected')) === undefined) break;
        }
        expect(await store.get('done')).toBeUndefined();
        expect(await store.get('rejected')).toBeUndefined();

        expect(await store.get('keep')).toEqual(keep);
        expect(await store.events('done')).toEqual([]);
        expect(await store.events('rejected')).toEqual([]);
        await expectError(store.transition('done', move('CANCELLED', 'CANCELLED')), NotFoundError, 'not_found');
        expect((await store.list({ tenant: 'acme' })).items.map((j) => j.id)).toEqual(['keep']);
        expect((await store.list({ tenant: 'acme', topic: SHARED })).items.map((j) => j.id)).toEqual(['keep']);
        expect((await store.list({ tenant: 'acme', state: 'CANCELLED' })).items).toEqual([]);
        expect((await store.list({ tenant: 'acme', state: 'DENIED', topic: SHARED })).items).toEqual([]);
        expect(await store.countByState('acme')).toEqual(countsWith({ PENDING: 1 }));
        expect(await store.countByState()).toEqual(countsWith({ PENDING: 1 }));
        expect(await store.listTimers('due', { before: 10 })).toEqual([{ id: 'keep', tenant: 'acme', at: 1 }]);

        // The id is free again, in any tenant, and the new job starts from scratch.
        const again = await store.create(job('done', { tenant: 'newcomer' }));
        expect(await store.get('done')).toEqual(again);
        expect(await fx.twin().get('done')).toEqual(again);
        expect(await store.events('done')).toHaveLength(1);
        expect((await store.list({ tenant: 'newcomer' })).items.map((j) => j.id)).toEqual(['done']);
      });
    });
  });
}
