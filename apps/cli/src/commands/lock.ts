import { type Command, Option } from 'commander';
import type { App } from '../cli/app.js';
import type { CommandHost } from '../cli/host.js';
import type { LockView, ReleaseLockResponse } from '../gateway/admin-types.js';
import { formatAge, formatTime, renderFields } from '../output/format.js';
import { definedFields, durationParser } from './common.js';

// cordumctl lock acquire|release|renew|get

const LOCKS = '/api/v1/locks';

type OwnerFlags = { owner?: string };

function lockLines(app: App, l: LockView): string[] {
  const now = app.now();
  return renderFields(
    [
      ['resource', l.resource],
      ['mode', l.mode],
      ['owners', Object.entries(l.owners).map(([o, h]) => `${o} (×${h.count}, expires in ${formatAge(now, h.expires_at)})`).join(', ') || '-'],
      ['expires', formatTime(l.expires_at)],
    ],
    app.style,
  );
}

const ownerOption = (): Option => new Option('--owner <owner>', 'who holds it (default: your principal id)');
const ttlOption = (): Option => new Option('--ttl <duration>', 'how long the hold lasts without renewing (e.g. 30s, 10m; gateway default 30s)').argParser(durationParser('--ttl'));

export function registerLock(program: Command, host: CommandHost): void {
  const lock = program.command('lock').description('Named resource locks of your tenant (exclusive or shared, with a TTL)');

  lock
    .command('acquire')
    .description('Acquire a lock; exit 5 (lock_held) when another owner blocks it')
    .argument('<resource>')
    .addOption(ownerOption())
    .addOption(new Option('--mode <mode>', 'exclusive (re-entrant for its owner) or shared').choices(['exclusive', 'shared']))
    .addOption(ttlOption())
    .action((resource: string, flags: OwnerFlags & { mode?: string; ttl?: number }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const l = await (await app.client()).post<LockView>(`${LOCKS}/acquire`, {
          resource,
          ...definedFields({ owner: flags.owner, mode: flags.mode, ttl_ms: flags.ttl }),
        });
        app.print(l, () => [`lock ${l.resource} acquired (${l.mode})`, ...lockLines(app, l)]);
      }),
    );

  lock
    .command('release')
    .description('Release one hold of a lock; exit 3 (lock_not_held) when the owner holds none')
    .argument('<resource>')
    .addOption(ownerOption())
    .action((resource: string, flags: OwnerFlags, cmd: Command) =>
      host.run(cmd, async (app) => {
        const r = await (await app.client()).post<ReleaseLockResponse>(`${LOCKS}/release`, { resource, ...definedFields({ owner: flags.owner }) });
        app.print(r, () =>
          r.lock === null ? [`lock ${r.resource} released by ${r.owner}: it is free`] : [`lock ${r.resource} released once by ${r.owner}; still held:`, ...lockLines(app, r.lock)],
        );
      }),
    );

  lock
    .command('renew')
    .description("Extend an owner's hold to now + --ttl; exit 3 (lock_not_held) when it expired or was released")
    .argument('<resource>')
    .addOption(ownerOption())
    .addOption(ttlOption())
    .action((resource: string, flags: OwnerFlags & { ttl?: number }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const l = await (await app.client()).post<LockView>(`${LOCKS}/renew`, { resource, ...definedFields({ owner: flags.owner, ttl_ms: flags.ttl }) });
        app.print(l, () => [`lock ${l.resource} renewed`, ...lockLines(app, l)]);
      }),
    );

  lock
    .command('get')
    .description('A lock and its holders; exit 3 (not_found) when it is free')
    .argument('<resource>')
    .action((resource: string, _flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        const l = await (await app.client()).get<LockView>(LOCKS, { resource });
        app.print(l, () => lockLines(app, l));
      }),
    );
}
