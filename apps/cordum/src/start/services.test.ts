import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { stopOnSignals } from '../cli/signals.js';
import { createMemoryOutput } from '../output.js';
import { type ServiceName, type ServiceStarter, startServices } from './services.js';

function fakeStarters(log: string[], fail?: ServiceName): Record<ServiceName, ServiceStarter> {
  const starter = (name: ServiceName): ServiceStarter => () => {
    if (name === fail) return Promise.reject(new Error('port taken'));
    log.push(`start ${name}`);
    return Promise.resolve({
      summary: `${name} summary`,
      stop: () => {
        log.push(`stop ${name}`);
        return Promise.resolve();
      },
    });
  };
  return {
    gateway: starter('gateway'),
    scheduler: starter('scheduler'),
    'safety-kernel': starter('safety-kernel'),
    'workflow-engine': starter('workflow-engine'),
  };
}

describe('cordum start', () => {
  it('starts the kernel before the scheduler whatever the order given, and stops in reverse', async () => {
    const log: string[] = [];
    const output = createMemoryOutput();
    const running = await startServices(['scheduler', 'safety-kernel'], output, fakeStarters(log));
    expect(log).toEqual(['start safety-kernel', 'start scheduler']);
    expect(output.lines).toEqual([
      'starting safety-kernel…',
      'safety-kernel ready (safety-kernel summary)',
      'starting scheduler…',
      'scheduler ready (scheduler summary)',
    ]);
    await running.stop();
    expect(log.slice(2)).toEqual(['stop scheduler', 'stop safety-kernel']);
    expect(output.lines.slice(-2)).toEqual(['stopping scheduler…', 'stopping safety-kernel…']);
  });

  it('starts the workflow engine after the scheduler it dispatches through, before the gateway', async () => {
    const log: string[] = [];
    const running = await startServices(['gateway', 'workflow-engine', 'scheduler'], createMemoryOutput(), fakeStarters(log));
    expect(log).toEqual(['start scheduler', 'start workflow-engine', 'start gateway']);
    await running.stop();
    expect(log.slice(3)).toEqual(['stop gateway', 'stop workflow-engine', 'stop scheduler']);
  });

  it('a service that fails to start stops those already running and names itself', async () => {
    const log: string[] = [];
    await expect(startServices(['gateway', 'scheduler', 'safety-kernel'], createMemoryOutput(), fakeStarters(log, 'gateway'))).rejects.toThrow(
      'gateway did not start: port taken',
    );
    expect(log).toEqual(['start safety-kernel', 'start scheduler', 'stop scheduler', 'stop safety-kernel']);
  });
});

describe('signals', () => {
  it('the first signal stops and exits 0; a second exits 1 at once', async () => {
    const source = new EventEmitter();
    const output = createMemoryOutput();
    const exits: number[] = [];
    let release: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (release = resolve));
    const remove = stopOnSignals(() => stopped, { output, exit: (code) => exits.push(code), source });
    source.emit('SIGTERM');
    expect(output.lines).toContain('SIGTERM: shutting down (again to force)');
    source.emit('SIGINT');
    expect(exits).toEqual([1]);
    release();
    await stopped;
    await new Promise((r) => setImmediate(r));
    expect(exits).toEqual([1, 0]);
    expect(output.lines.at(-1)).toBe('stopped');
    remove();
    expect(source.listenerCount('SIGINT') + source.listenerCount('SIGTERM')).toBe(0);
  });

  it('a failed stop exits 1 with the reason', async () => {
    const source = new EventEmitter();
    const output = createMemoryOutput();
    const exits: number[] = [];
    stopOnSignals(() => Promise.reject(new Error('stuck')), { output, exit: (code) => exits.push(code), source });
    source.emit('SIGINT');
    await new Promise((r) => setImmediate(r));
    expect(exits).toEqual([1]);
    expect(output.errors).toEqual(['shutdown failed: stuck']);
  });
});
