import { type Command, Option } from 'commander';
import type { CommandHost } from '../cli/host.js';
import { apiPath } from '../gateway/client.js';
import type { SchemaDetail, SchemaList, SchemaSummary } from '../gateway/admin-types.js';
import { readDocumentArgument } from '../input/read.js';
import { formatTime, renderFields, renderTable } from '../output/format.js';
import { type PageFlags, definedFields, fetchPages, integerParser, limitOption, moreHint } from './common.js';

// cordumctl schema register|get|list|delete

const SCHEMAS = '/api/v1/schemas';

export function registerSchema(program: Command, host: CommandHost): void {
  const schema = program.command('schema').description('The JSON Schema registry of your tenant (workflow and pack schemas)');

  schema
    .command('register')
    .description('Register or replace a JSON Schema (draft-07, or 2020-12 when $schema names it); the gateway checks it first')
    .argument('<id>', 'schema id, e.g. sre/Incident')
    .argument('<schema>', 'the schema: a JSON or YAML file (path, @path, - for stdin) or inline JSON')
    .addOption(
      new Option('--expected-version <n>', 'compare-and-set: 0 = must not exist yet, n = must be at version n (exit 5 otherwise)').argParser(
        integerParser('--expected-version', 0),
      ),
    )
    .action((id: string, source: string, flags: { expectedVersion?: number }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const doc = await readDocumentArgument(source, 'schema', { cwd: app.cwd, readStdin: app.readStdin }, { inline: true });
        const res = await (await app.client()).request<SchemaSummary>('POST', SCHEMAS, {
          body: { id, schema: doc.value, ...definedFields({ expected_version: flags.expectedVersion }) },
        });
        const s = res.body;
        app.print({ ...s, created: res.status === 201 }, () => [
          res.status === 201 ? `schema ${s.id} registered: version ${s.version} (${s.draft})` : `schema ${s.id} replaced: version ${s.version} (${s.draft})`,
        ]);
      }),
    );

  schema
    .command('get')
    .description('A schema and its version')
    .argument('<id>')
    .action((id: string, _flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        const s = await (await app.client()).get<SchemaDetail>(apiPath(SCHEMAS, id));
        app.print(s, () => [
          ...renderFields(
            [
              ['id', s.id],
              ['version', String(s.version)],
              ['draft', s.draft],
              ['sha256', s.sha256],
              ['created', formatTime(s.created_at)],
              ['updated', formatTime(s.updated_at)],
            ],
            app.style,
          ),
          app.style.bold('schema:'),
          ...JSON.stringify(s.schema, null, 2).split('\n').map((l) => `  ${l}`),
        ]);
      }),
    );

  schema
    .command('list')
    .description('Schemas of your tenant, by id')
    .addOption(limitOption())
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .option('--all', 'follow every page')
    .action((flags: PageFlags, cmd: Command) =>
      host.run(cmd, async (app) => {
        const page = await fetchPages<SchemaSummary>(await app.client(), SCHEMAS, {}, flags);
        const out: SchemaList = { schemas: page.items.map((s) => s.id), items: page.items, next_cursor: page.next_cursor };
        app.print(out, () =>
          page.items.length === 0
            ? ['No schemas.']
            : [
                ...renderTable<SchemaSummary>(
                  [
                    { header: 'id', value: (s) => s.id },
                    { header: 'version', value: (s) => String(s.version) },
                    { header: 'draft', value: (s) => s.draft },
                    { header: 'updated', value: (s) => formatTime(s.updated_at) },
                    { header: 'sha256', value: (s) => s.sha256.slice(0, 16) },
                  ],
                  page.items,
                  app.style,
                ),
                ...moreHint(page, 'cordumctl schema list'),
              ],
        );
      }),
    );

  schema
    .command('delete')
    .description('Delete a schema (admin)')
    .argument('<id>')
    .action((id: string, _flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        await (await app.client()).delete(apiPath(SCHEMAS, id));
        app.print({ id, deleted: true }, () => [`schema ${id} deleted`]);
      }),
    );
}
