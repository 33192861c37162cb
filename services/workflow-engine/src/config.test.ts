import { readFileSync } from 'node:fs';
import { describeConfig } from '@cordum/core';
import { describe, expect, it } from 'vitest';
import { WORKFLOW_ENGINE_ENV, loadWorkflowEngineConfig } from './index.js';

describe('workflow engine config', () => {
  it('defaults and overrides', () => {
    const cfg = loadWorkflowEngineConfig({});
    expect(cfg).toMatchObject({ reconcileIntervalMs: 1000, staleAfterMs: 15_000, commandGraceMs: 5000, submitGraceMs: 10_000, metricsAddr: ':9093' });
    expect(cfg.instanceId).toMatch(/-\d+$/);
    expect(Object.isFrozen(cfg)).toBe(true);
    const set = loadWorkflowEngineConfig({ WORKFLOW_RECONCILE_INTERVAL: '250ms', WORKFLOW_STALE_AFTER: '2s', WORKFLOW_ENGINE_INSTANCE_ID: 'wfe-1' });
    expect(set).toMatchObject({ reconcileIntervalMs: 250, staleAfterMs: 2000, instanceId: 'wfe-1' });
    expect(() => loadWorkflowEngineConfig({ WORKFLOW_RECONCILE_INTERVAL: 'soon' })).toThrow(/WORKFLOW_RECONCILE_INTERVAL/);
  });

  it('the README lists every variable as the code declares it', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const row of describeConfig(WORKFLOW_ENGINE_ENV)) {
      const def = row.default === '' ? '' : `\`${row.default}\``;
      const line = `| \`${row.variable}\` | ${row.type.replaceAll('|', '\\|')} | ${def} | ${row.description} |`.replace('|  |', '| |');
      expect(readme).toContain(line);
    }
  });
});
