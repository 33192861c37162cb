import type { Command } from 'commander';
import type { CommandHost } from '../cli/host.js';
import { EXIT } from '../exit-codes.js';
import { renderTable } from '../output/format.js';
import type { PolicyTestResult } from '../policy/test-runner.js';
import { groupCommand } from './common.js';

// cordumctl policy test (offline; the gateway's policy routes live in their own command file)

export function registerPolicyTest(program: Command, host: CommandHost): void {
  groupCommand(program, 'policy', 'Policy: test bundles offline, and the gateway\'s policy routes')
    .command('test')
    .description(
      'Run policy simulations offline against bundle files (no gateway), like `opa test`: exit 8 when any case gets another decision than expected',
    )
    .argument('[bundle...]', 'policy bundle files: the first is the base bundle, the others fragments named after their file')
    .option('--cases <file>', 'YAML list of cases {name, request{tenantId, topic, capability, riskTags, requires, packId, actorId, actorType, labels}, expectDecision}')
    .option('--pack <dir>', "a pack directory: its policy fragments join the bundles and its tests.policySimulations run too")
    .option('--failures-only', 'show only the cases that failed')
    .action((bundles: string[], flags: { cases?: string; pack?: string; failuresOnly?: boolean }, cmd: Command) =>
      host.run(cmd, async (app) => {
        // Loaded on use: the policy engine (CEL and all) is the heaviest import cordumctl has.
        const { runPolicyTest } = await import('../policy/test-runner.js');
        const report = await runPolicyTest({ bundles, cases: flags.cases, pack: flags.pack, cwd: app.cwd });
        const s = app.style;
        const shown = flags.failuresOnly === true ? report.results.filter((r) => !r.ok) : report.results;
        app.print(report, () => [
          ...(shown.length === 0
            ? []
            : renderTable<PolicyTestResult>(
                [
                  { header: 'result', value: (r) => (r.ok ? 'PASS' : 'FAIL'), style: (t) => (t === 'PASS' ? s.green(t) : s.red(t)) },
                  { header: 'case', value: (r) => r.name },
                  { header: 'expected', value: (r) => r.expected },
                  { header: 'got', value: (r) => r.got, style: (t, r) => (r.ok ? t : s.red(t)) },
                  { header: 'rule', value: (r) => r.ruleId || '-' },
                  { header: 'reason', value: (r) => r.reason },
                ],
                shown,
                s,
              )),
          `${report.results.length} case${report.results.length === 1 ? '' : 's'}: ${s.green(`${report.passed} passed`)}, ${report.failed === 0 ? '0 failed' : s.red(`${report.failed} failed`)}`,
        ]);
        return report.failed === 0 ? EXIT.ok : EXIT.testFailed;
      }),
    );
}
