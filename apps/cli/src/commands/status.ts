import type { Command } from 'commander';
import type { CommandHost } from '../cli/host.js';
import type { StatusResponse, Worker } from '../gateway/types.js';
import { formatAge, formatElapsed, formatLabels, renderFields, renderTable } from '../output/format.js';

// cordumctl status, cordumctl workers

export function registerStatus(program: Command, host: CommandHost): void {
  program
    .command('status')
    .description('The gateway: version, uptime, bus, store, workers, auth mode and who you are')
    .action((_flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        const target = await app.target();
        const client = await app.client();
        const s = await client.get<StatusResponse>('/api/v1/status');
        const ok = (good: boolean, text: string): string => (good ? app.style.green(text) : app.style.red(text));
        app.print({ gateway: client.baseUrl, context: target.context ?? null, ...s }, () =>
          renderFields(
            [
              ['gateway', `${client.baseUrl}${target.context === undefined ? '' : ` (context ${target.context})`}`],
              ['version', `${s.build.version}${s.build.commit ? ` (${s.build.commit}${s.build.date ? `, ${s.build.date}` : ''})` : ''}`],
              ['uptime', formatElapsed(s.uptime_seconds * 1000)],
              ['bus', `${ok(s.bus.connected, s.bus.connected ? 'connected' : 'disconnected')} ${s.bus.server}${s.bus.durable ? ' (durable)' : ''}${s.bus.reconnects > 0 ? `, ${s.bus.reconnects} reconnects` : ''}`],
              ['store', s.store.ok ? ok(true, 'ok') : ok(false, `error: ${s.store.error ?? 'unknown'}`)],
              ['workers', String(s.workers.count)],
              ['auth', s.auth.open ? app.style.yellow('open mode (no API keys)') : 'API keys'],
              ['principal', `${s.principal.id} (tenant ${s.principal.tenant}; roles ${s.principal.roles.join(', ')})`],
            ],
            app.style,
          ),
        );
      }),
    );
}

export function registerWorkers(program: Command, host: CommandHost): void {
  program
    .command('workers')
    .description('Workers heard on the heartbeat subject (admin)')
    .action((_flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        const res = await (await app.client()).get<{ items: Worker[] }>('/api/v1/workers');
        const now = app.now();
        app.print(res, () =>
          res.items.length === 0
            ? ['No workers.']
            : renderTable<Worker>(
                [
                  { header: 'worker', value: (w) => w.worker_id },
                  { header: 'pool', value: (w) => w.pool || '-' },
                  { header: 'type', value: (w) => w.type || '-' },
                  { header: 'jobs', value: (w) => `${w.active_jobs}/${w.max_parallel_jobs}` },
                  { header: 'cpu', value: (w) => `${Math.round(w.cpu_load)}%` },
                  { header: 'capabilities', value: (w) => (w.capabilities.length === 0 ? '-' : w.capabilities.join(',')) },
                  { header: 'labels', value: (w) => formatLabels(w.labels) },
                  { header: 'seen', value: (w) => `${formatAge(w.last_seen_at, now)} ago` },
                ],
                res.items,
                app.style,
              ),
        );
      }),
    );
}
