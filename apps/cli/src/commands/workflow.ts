import { type Command, Option } from 'commander';
import type { CommandHost } from '../cli/host.js';
import { usageError } from '../errors.js';
import { apiPath } from '../gateway/client.js';
import type { PutWorkflowResponse, WorkflowDetail, WorkflowSummary } from '../gateway/workflow-types.js';
import { readDocumentArgument } from '../input/read.js';
import { formatTime, renderData, renderFields, renderTable } from '../output/format.js';
import { createWorkflowRequest } from '../runs/requests.js';
import { type PageFlags, fetchPages, integerParser, limitOption, moreHint } from './common.js';

// cordumctl workflow create|list|get|delete

const WORKFLOWS = '/api/v1/workflows';

type StepDef = { type?: string; topic?: string; depends_on?: string[]; name?: string };

export function registerWorkflow(program: Command, host: CommandHost): void {
  const workflow = program.command('workflow').description('Workflow definitions: create (JSON or YAML), list, get, delete');

  workflow
    .command('create')
    .alias('apply')
    .description('Create a workflow, or store a changed definition as its next revision (the gateway validates it)')
    .argument('[file]', 'the definition, JSON or YAML (path, @path, - for stdin)')
    .option('-f, --file <path>', 'the definition file (upstream\'s flag)')
    .addOption(
      new Option('--expected-revision <n>', 'compare-and-set: 0 = must not exist yet, n = latest revision must be n (exit 5 otherwise)').argParser(
        integerParser('--expected-revision', 0),
      ),
    )
    .action((file: string | undefined, flags: { file?: string; expectedRevision?: number }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const path = flags.file ?? file;
        if (path === undefined || (flags.file !== undefined && file !== undefined)) throw usageError('workflow create needs one definition file: an argument or --file PATH');
        const doc = await readDocumentArgument(path, 'workflow definition', { cwd: app.cwd, readStdin: app.readStdin }, { inline: false });
        const req = createWorkflowRequest(doc, flags);
        const res = await (await app.client()).request<PutWorkflowResponse>(req.method, req.path, req.options);
        const w = res.body;
        for (const warning of w.warnings) app.info(`warning: ${warning.path}: ${warning.message}`);
        const what = res.status === 201 ? 'created' : w.unchanged ? 'unchanged' : 'updated';
        app.print({ ...w, created: res.status === 201 }, () => [`workflow ${w.id} ${what}: revision ${w.revision} (${w.step_count} step${w.step_count === 1 ? '' : 's'})`]);
      }),
    );

  workflow
    .command('list')
    .description('Workflows of your tenant (latest revisions), by id')
    .addOption(limitOption())
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .option('--all', 'follow every page')
    .action((flags: PageFlags, cmd: Command) =>
      host.run(cmd, async (app) => {
        const page = await fetchPages<WorkflowSummary>(await app.client(), WORKFLOWS, {}, flags);
        app.print(page, () =>
          page.items.length === 0
            ? ['No workflows.']
            : [
                ...renderTable<WorkflowSummary>(
                  [
                    { header: 'id', value: (w) => w.id },
                    { header: 'name', value: (w) => w.name ?? '-' },
                    { header: 'revision', value: (w) => String(w.revision) },
                    { header: 'version', value: (w) => w.version ?? '-' },
                    { header: 'steps', value: (w) => String(w.step_count) },
                    { header: 'stored', value: (w) => formatTime(w.created_at) },
                  ],
                  page.items,
                  app.style,
                ),
                ...moreHint(page, 'cordumctl workflow list'),
              ],
        );
      }),
    );

  workflow
    .command('get')
    .description('A workflow definition (latest, or --revision N)')
    .argument('<workflow-id>')
    .addOption(new Option('--revision <n>', 'an older revision (readable even after delete)').argParser(integerParser('--revision', 1)))
    .option('--definition', 'print only the definition (as YAML, or JSON with -o json): a file workflow create takes back')
    .action((id: string, flags: { revision?: number; definition?: boolean }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const w = await (await app.client()).get<WorkflowDetail>(apiPath(WORKFLOWS, id), { revision: flags.revision });
        if (flags.definition === true) {
          app.terminal.out(renderData(w.definition, app.format === 'json' ? 'json' : 'yaml'));
          return;
        }
        const steps = Object.entries((w.definition['steps'] ?? {}) as Record<string, StepDef>);
        app.print(w, () => [
          ...renderFields(
            [
              ['workflow', w.id],
              ['name', w.name ?? undefined],
              ['description', w.description ?? undefined],
              ['revision', String(w.revision)],
              ['version', w.version ?? undefined],
              ['sha256', w.sha256],
              ['stored', formatTime(w.created_at)],
            ],
            app.style,
          ),
          '',
          ...renderTable<[string, StepDef]>(
            [
              { header: 'step', value: ([sid]) => sid },
              { header: 'type', value: ([, s]) => s.type ?? 'job' },
              { header: 'topic', value: ([, s]) => s.topic ?? '-' },
              { header: 'depends on', value: ([, s]) => (s.depends_on ?? []).join(',') || '-' },
            ],
            steps,
            app.style,
          ),
        ]);
      }),
    );

  workflow
    .command('delete')
    .description('Delete a workflow (admin); runs already started keep their pinned revision')
    .argument('<workflow-id>')
    .action((id: string, _flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        await (await app.client()).delete(apiPath(WORKFLOWS, id));
        app.print({ id, deleted: true }, () => [`workflow ${id} deleted`]);
      }),
    );
}
