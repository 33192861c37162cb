import { type Command, Option } from 'commander';
import type { App } from '../cli/app.js';
import type { CommandHost } from '../cli/host.js';
import { usageError } from '../errors.js';
import type { ConfigDoc, EffectiveConfig } from '../gateway/admin-types.js';
import { type ReadDocument, readDocumentArgument, requireObject } from '../input/read.js';
import { compactJson, formatTime, renderFields, renderTable } from '../output/format.js';
import { type PageFlags, definedFields, fetchPages, integerParser, limitOption, moreHint, yamlLines } from './common.js';

// cordumctl config get|set|effective|history|rollback

const CONFIG = '/api/v1/config';
export const CONFIG_SCOPES = ['system', 'org', 'team', 'workflow', 'step'] as const;

/** The keys of a document as `config get` prints it: a file holding them is a whole document, not its data. */
const DOC_KEYS = new Set(['scope', 'scope_id', 'data', 'meta', 'revision', 'updated_at', 'updated_by']);

type ScopeFlags = { scope?: string; scopeId?: string };
type SetFlags = ScopeFlags & { file?: string; meta?: string; revision?: number };

const scopeOption = (defaultSystem: boolean): Option => {
  const o = new Option('--scope <scope>', defaultSystem ? 'system (shared), org, team, workflow or step' : 'system, org, team, workflow or step (required)').choices(CONFIG_SCOPES);
  return defaultSystem ? o.default('system') : o;
};
const scopeIdOption = (): Option =>
  new Option('--scope-id <id>', 'the document of the scope: default "default" for system and your tenant for org; needed for team, workflow, step');

function docName(scope: string, scopeId: string): string {
  return `${scope}/${scopeId}`;
}

function docLines(app: App, d: ConfigDoc): string[] {
  const lines = renderFields(
    [
      ['document', docName(d.scope, d.scope_id)],
      ['revision', String(d.revision)],
      ['updated', `${formatTime(d.updated_at)}${d.updated_by ? ` by ${d.updated_by}` : ''}`],
    ],
    app.style,
  );
  lines.push(app.style.bold('data:'), ...yamlLines(d.data));
  if (Object.keys(d.meta).length > 0) lines.push(app.style.bold('meta:'), ...yamlLines(d.meta));
  return lines;
}

/**
 * The body of POST /api/v1/config from `config set`'s document and flags. A document holding `scope` and
 * `data` (and only document keys) is a whole document, as `config get -o yaml` prints it: its scope, scope id,
 * meta and revision apply (so writing back what was read is a compare-and-set); anything else is the data.
 * Flags win over the document.
 */
export function buildSetBody(doc: ReadDocument, flags: SetFlags, meta: ReadDocument | undefined): Record<string, unknown> {
  const value = requireObject(doc, 'config set');
  const keys = Object.keys(value);
  const whole = 'scope' in value && 'data' in value && keys.every((k) => DOC_KEYS.has(k));
  const scope = flags.scope ?? (whole ? value['scope'] : undefined);
  if (scope === undefined) throw usageError('config set needs --scope (system, org, team, workflow or step)');
  const body: Record<string, unknown> = {
    scope,
    ...definedFields({ scope_id: flags.scopeId ?? (whole ? value['scope_id'] : undefined) }),
    data: whole ? value['data'] : value,
  };
  const metaValue = meta === undefined ? (whole ? value['meta'] : undefined) : requireObject(meta, '--meta');
  if (metaValue !== undefined) body['meta'] = metaValue;
  const revision = flags.revision ?? (whole ? value['revision'] : undefined);
  if (revision !== undefined) body['revision'] = revision;
  return body;
}

export function registerConfig(program: Command, host: CommandHost): void {
  const config = program.command('config').description('Config documents: read, write (compare-and-set), merge, history, rollback');

  config
    .command('get')
    .description('A config document (GET /api/v1/config); exit 3 when there is none')
    .addOption(scopeOption(true))
    .addOption(scopeIdOption())
    .action((flags: ScopeFlags, cmd: Command) =>
      host.run(cmd, async (app) => {
        const d = await (await app.client()).get<ConfigDoc>(CONFIG, { scope: flags.scope, scope_id: flags.scopeId });
        app.print(d, () => docLines(app, d));
      }),
    );

  config
    .command('set')
    .description('Write a config document: its data replaces the previous data; --revision makes it a compare-and-set (exit 5 when it moved on)')
    .argument('[document]', 'the data as inline JSON or YAML, or a file (path, @path, - for stdin); a whole document as `config get -o yaml` prints it works too')
    .option('-f, --file <path>', 'read the document from this file (- for stdin)')
    .addOption(scopeOption(false))
    .addOption(scopeIdOption())
    .option('--meta <json|yaml|file>', 'the meta object (default: the document\'s, else none)')
    .addOption(new Option('--revision <n>', 'compare-and-set: the revision you read (0 = must not exist yet)').argParser(integerParser('--revision', 0)))
    .action((document: string | undefined, flags: SetFlags, cmd: Command) =>
      host.run(cmd, async (app) => {
        if ((document === undefined) === (flags.file === undefined)) throw usageError('config set needs the document: inline, as a file argument, or --file PATH (one of them)');
        const src = { cwd: app.cwd, readStdin: app.readStdin };
        const doc =
          flags.file !== undefined
            ? await readDocumentArgument(flags.file, '--file', src, { inline: false })
            : await readDocumentArgument(document ?? '', 'document', src, { inline: true });
        const meta = flags.meta === undefined ? undefined : await readDocumentArgument(flags.meta, '--meta', src, { inline: true });
        const body = buildSetBody(doc, flags, meta);
        const d = await (await app.client()).post<ConfigDoc>(CONFIG, body);
        app.print(d, () => [`config ${docName(d.scope, d.scope_id)} written: revision ${d.revision}`]);
      }),
    );

  config
    .command('effective')
    .description('The merged config a job of your tenant gets: system → org → team → workflow → step, with version and hash')
    .option('--org <tenant>', 'your tenant (the default)')
    .option('--team <id>', 'team scope')
    .option('--workflow <id>', 'workflow scope')
    .option('--step <id>', 'step scope')
    .action((flags: { org?: string; team?: string; workflow?: string; step?: string }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const e = await (await app.client()).get<EffectiveConfig>(`${CONFIG}/effective`, {
          org_id: flags.org,
          team_id: flags.team,
          workflow_id: flags.workflow,
          step_id: flags.step,
        });
        app.print(e, () => [
          ...renderFields(
            [
              ['version', e.version],
              ['hash', e.hash],
            ],
            app.style,
          ),
          app.style.bold('data:'),
          ...yamlLines(e.data),
        ]);
      }),
    );

  config
    .command('history')
    .description('Revisions of a config document, newest first')
    .addOption(scopeOption(true))
    .addOption(scopeIdOption())
    .addOption(limitOption())
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .option('--all', 'follow every page')
    .action((flags: ScopeFlags & PageFlags, cmd: Command) =>
      host.run(cmd, async (app) => {
        const page = await fetchPages<ConfigDoc>(await app.client(), `${CONFIG}/history`, { scope: flags.scope, scope_id: flags.scopeId }, flags);
        app.print(page, () =>
          page.items.length === 0
            ? ['No revisions.']
            : [
                ...renderTable<ConfigDoc>(
                  [
                    { header: 'revision', value: (d) => String(d.revision) },
                    { header: 'updated', value: (d) => formatTime(d.updated_at) },
                    { header: 'by', value: (d) => d.updated_by || '-' },
                    { header: 'data', value: (d) => truncate(compactJson(d.data), 80) },
                  ],
                  page.items,
                  app.style,
                ),
                ...moreHint(page, 'cordumctl config history'),
              ],
        );
      }),
    );

  config
    .command('rollback')
    .description('Make a past revision current again, as a new revision (--revision: compare-and-set on the current one)')
    .addOption(scopeOption(false))
    .addOption(scopeIdOption())
    .addOption(new Option('--to-revision <n>', 'the past revision whose data and meta become current (required)').argParser(integerParser('--to-revision', 1)))
    .addOption(new Option('--revision <n>', 'compare-and-set: the current revision you read').argParser(integerParser('--revision', 0)))
    .action((flags: ScopeFlags & { toRevision?: number; revision?: number }, cmd: Command) =>
      host.run(cmd, async (app) => {
        if (flags.scope === undefined) throw usageError('config rollback needs --scope (system, org, team, workflow or step)');
        if (flags.toRevision === undefined) throw usageError('config rollback needs --to-revision N (see cordumctl config history)');
        const body = definedFields({ scope: flags.scope, scope_id: flags.scopeId, to_revision: flags.toRevision, revision: flags.revision });
        const d = await (await app.client()).post<ConfigDoc>(`${CONFIG}/rollback`, body);
        app.print(d, () => [`config ${docName(d.scope, d.scope_id)} rolled back to revision ${flags.toRevision ?? ''}: now revision ${d.revision}`]);
      }),
    );
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
