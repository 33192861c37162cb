import { type Command, Option } from 'commander';
import type { App } from '../cli/app.js';
import type { CommandHost } from '../cli/host.js';
import { usageError } from '../errors.js';
import type {
  BundleDetail,
  BundleList,
  BundleRevision,
  BundleView,
  PolicyAuditEntry,
  PolicyDecision,
  PolicyExplain,
  PolicySnapshots,
  PublishResponse,
  RuleTrace,
  RulesResponse,
  RuleView,
} from '../gateway/policy-types.js';
import { readBytesArgument, readDocumentArgument } from '../input/read.js';
import { ACTOR_TYPES, PRIORITIES } from '../jobs/submit.js';
import { compactJson, formatTime, renderFields, renderTable } from '../output/format.js';
import { type CheckFlags, buildCheckBody, bundlePath, parseBundleFlag } from '../policy/requests.js';
import { type PageFlags, collect, definedFields, fetchPages, groupCommand, integerParser, limitOption, moreHint } from './common.js';

// cordumctl policy evaluate|explain|simulate|snapshots|rules|bundles …|publish|rollback|audit: the gateway's
// /api/v1/policy routes (`policy test` runs offline and lives in policy.ts).

const POLICY = '/api/v1/policy';

type RequestFlags = CheckFlags & { request?: string };

function requestOptions(cmd: Command): Command {
  return cmd
    .option('--topic <topic>', 'the job topic (required unless --request has one)')
    .option('--request <json|yaml|file>', 'a whole policy-check request (upstream fields, snake_case); flags given win')
    .option('--capability <name>', 'capability')
    .option('--risk-tags <tags>', 'risk tags, comma-separated (repeatable)', collect)
    .option('--requires <tags>', 'requirements, comma-separated (repeatable)', collect)
    .option('--labels <labels>', 'labels: key=value,… or a JSON object (repeatable)', collect)
    .option('--pack-id <id>', 'pack id')
    .option('--actor-id <id>', 'who asks')
    .addOption(new Option('--actor-type <type>', 'human or service').choices(ACTOR_TYPES))
    .addOption(new Option('--priority <priority>', 'job priority').choices(PRIORITIES))
    .option('--principal-id <id>', 'principal (default: you)')
    .option('--team <id>', 'team scope of the effective config')
    .option('--workflow <id>', 'workflow scope of the effective config')
    .option('--step <id>', 'step scope of the effective config');
}

async function checkBody(app: App, flags: RequestFlags): Promise<Record<string, unknown>> {
  const request = flags.request === undefined ? undefined : await readDocumentArgument(flags.request, '--request', { cwd: app.cwd, readStdin: app.readStdin }, { inline: true });
  return buildCheckBody(flags, request);
}

async function readText(app: App, file: string, what: string): Promise<string> {
  return Buffer.from((await readBytesArgument(file, what, { cwd: app.cwd, readStdin: app.readStdin })).bytes).toString('utf8');
}

function decisionLines(app: App, d: PolicyDecision): string[] {
  const s = app.style;
  return renderFields(
    [
      ['decision', s.state(d.decision)],
      ['rule', d.rule_id || '-'],
      ['reason', d.reason || undefined],
      ['snapshot', d.policy_snapshot],
      ['tenant', d.tenant],
      ['approval', d.approval_required ? s.yellow('required') : undefined],
      ['constraints', d.constraints === null ? undefined : compactJson(d.constraints)],
      ['remediations', d.remediations.length === 0 ? undefined : d.remediations.map((r) => `${r.id}${r.title ? ` (${r.title})` : ''}`).join(', ')],
      ['config', d.effective_config === null ? undefined : d.effective_config.version],
    ],
    s,
  );
}

function explainLines(app: App, e: PolicyExplain): string[] {
  const s = app.style;
  const statusStyle = (t: string): string => (t === 'matched' ? s.green(t) : t === 'error' ? s.red(t) : t === 'not_reached' ? s.dim(t) : t);
  return [
    ...decisionLines(app, e),
    ...(e.drafts.length === 0 ? [] : renderFields([['drafts', e.drafts.join(', ')]], s)),
    '',
    ...renderTable<RuleTrace>(
      [
        { header: '#', value: (t) => String(t.index) },
        { header: 'rule', value: (t) => t.rule_id },
        { header: 'bundle', value: (t) => t.bundle_id },
        { header: 'decision', value: (t) => t.decision },
        { header: 'status', value: (t) => t.status, style: statusStyle },
        { header: 'why', value: (t) => t.reasons.join('; ') },
      ],
      e.trace,
      s,
    ),
    ...e.notes.map((n) => `note: ${n}`),
  ];
}

function bundleLine(b: BundleView): string {
  return b.live ? 'live' : b.enabled ? 'enabled, no content' : 'off';
}

export function registerPolicyGateway(program: Command, host: CommandHost): void {
  const policy = groupCommand(program, 'policy', "Policy: test bundles offline, and the gateway's policy routes");

  requestOptions(policy.command('evaluate').description('The decision the safety kernel would give a job (nothing recorded)')).action(
    (flags: RequestFlags, cmd: Command) =>
      host.run(cmd, async (app) => {
        const d = await (await app.client()).post<PolicyDecision>(`${POLICY}/evaluate`, await checkBody(app, flags));
        app.print(d, () => decisionLines(app, d));
      }),
  );

  requestOptions(policy.command('explain').description('The decision with every rule considered and why it did or did not match')).action(
    (flags: RequestFlags, cmd: Command) =>
      host.run(cmd, async (app) => {
        const e = await (await app.client()).post<PolicyExplain>(`${POLICY}/explain`, await checkBody(app, flags));
        app.print(e, () => explainLines(app, e));
      }),
  );

  requestOptions(policy.command('simulate').description('Explain against draft bundle files laid over the live policy (nothing stored)'))
    .option('--bundle <[id=]file>', 'a draft bundle file (id default secops/<file name>); repeatable', collect)
    .option('--disable <id>', 'simulate this bundle switched off (repeatable)', collect)
    .option('--default-decision <decision>', 'override the default decision (allow, deny, require_approval, …)')
    .action((flags: RequestFlags & { bundle?: string[]; disable?: string[]; defaultDecision?: string }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const body = await checkBody(app, flags);
        const bundles: { id: string; content: string; enabled?: boolean }[] = [];
        for (const raw of flags.bundle ?? []) {
          const { id, file } = parseBundleFlag(raw);
          bundles.push({ id, content: await readText(app, file, `--bundle ${id}`) });
        }
        for (const id of flags.disable ?? []) bundles.push({ id, content: '', enabled: false });
        const e = await (await app.client()).post<PolicyExplain>(`${POLICY}/simulate`, {
          ...body,
          ...(bundles.length === 0 ? {} : { bundles }),
          ...definedFields({ default_decision: flags.defaultDecision }),
        });
        app.print(e, () => explainLines(app, e));
      }),
    );

  policy
    .command('snapshots')
    .description('Policy snapshot ids the kernel has loaded, newest (in force) first')
    .action((_flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        const s = await (await app.client()).get<PolicySnapshots>(`${POLICY}/snapshots`);
        app.print(s, () =>
          s.snapshots.length === 0 ? ['No snapshots.'] : s.snapshots.map((id) => (id === s.current ? `${app.style.green('*')} ${id}  (in force)` : `  ${id}`)),
        );
      }),
    );

  policy
    .command('rules')
    .description('The rules in force in evaluation order, or the rules of one stored bundle (secops)')
    .option('--bundle-id <id>', 'only this stored bundle')
    .option('--draft', "with --bundle-id: the rules of its draft")
    .action((flags: { bundleId?: string; draft?: boolean }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const r = await (await app.client()).get<RulesResponse>(`${POLICY}/rules`, { bundle_id: flags.bundleId, draft: flags.draft });
        app.print(r, () => [
          ...renderFields([['snapshot', r.snapshot ?? '-']], app.style),
          '',
          ...renderTable<RuleView>(
            [
              { header: '#', value: (x) => String(x.index) },
              { header: 'rule', value: (x) => x.rule_id },
              { header: 'bundle', value: (x) => x.bundle_id },
              { header: 'decision', value: (x) => x.decision },
              { header: 'reason', value: (x) => x.reason ?? '-' },
            ],
            r.rules,
            app.style,
          ),
        ]);
      }),
    );

  const bundles = policy.command('bundles').description('Policy bundles in the config store: list, get, put (draft), simulate, history (secops)');

  bundles
    .command('list')
    .description('Bundles (packs and secops) without content, and the document revision')
    .action((_flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        const l = await (await app.client()).get<BundleList>(`${POLICY}/bundles`);
        app.print(l, () => [
          `revision ${l.revision}`,
          ...(l.bundles.length === 0
            ? ['No bundles.']
            : renderTable<BundleView>(
                [
                  { header: 'id', value: (b) => b.id },
                  { header: 'kind', value: (b) => b.kind },
                  { header: 'state', value: (b) => bundleLine(b) },
                  { header: 'draft', value: (b) => (b.draft === null ? '-' : `yes (${b.draft.updated_by || b.draft.author || '?'})`) },
                  { header: 'version', value: (b) => b.version || '-' },
                  { header: 'updated', value: (b) => formatTime(b.updated_at) },
                  { header: 'problem', value: (b) => b.problem ?? '' },
                ],
                l.bundles,
                app.style,
              )),
        ]);
      }),
    );

  bundles
    .command('get')
    .description('One bundle: live content, draft, authorship, revision')
    .argument('<id>', 'bundle id, e.g. secops/freeze')
    .option('--content', 'print only the live content (YAML), e.g. to edit and put back')
    .option('--draft', 'print only the draft content')
    .action((id: string, flags: { content?: boolean; draft?: boolean }, cmd: Command) =>
      host.run(cmd, async (app) => {
        if (flags.content === true && flags.draft === true) throw usageError('--content and --draft do not go together');
        const b = await (await app.client()).get<BundleDetail>(bundlePath(id));
        if (flags.content === true || flags.draft === true) {
          const text = flags.draft === true ? b.draft?.content : b.content;
          if (text === undefined) throw usageError(`bundle ${b.id} has no ${flags.draft === true ? 'draft' : 'live content'}`);
          app.terminal.outRaw(text.endsWith('\n') ? text : `${text}\n`);
          return;
        }
        app.print(b, () => [
          ...renderFields(
            [
              ['id', b.id],
              ['kind', `${b.kind}${b.pack_id ? ` (pack ${b.pack_id})` : ''}${b.editable ? '' : ', read-only here'}`],
              ['state', bundleLine(b)],
              ['version', b.version || undefined],
              ['sha256', b.sha256 || undefined],
              ['published', b.published_at === null ? undefined : `${formatTime(b.published_at)} by ${b.published_by}`],
              ['message', b.message || undefined],
              ['revision', String(b.revision)],
              ['problem', b.problem ?? undefined],
              ['draft', b.draft === null ? undefined : `${b.draft.enabled ? 'enabled' : 'off'} by ${b.draft.updated_by || b.draft.author}${b.draft.message ? `: ${b.draft.message}` : ''}`],
            ],
            app.style,
          ),
          ...(b.content === undefined ? [] : [app.style.bold('content:'), ...b.content.replace(/\n$/, '').split('\n').map((l) => `  ${l}`)]),
        ]);
      }),
    );

  bundles
    .command('put')
    .description('Save a draft of a secops/<name> bundle (validated; live once published)')
    .argument('<id>', 'bundle id, secops/<name>')
    .argument('<file>', 'the bundle YAML or JSON (path, @path, - for stdin)')
    .option('--disabled', 'the bundle is off once published')
    .option('--author <name>', 'author')
    .option('--message <text>', 'what changed')
    .option('--signature <base64>', 'Ed25519 signature over the content')
    .addOption(
      new Option('--expected-revision <n>', 'compare-and-set on the bundles document (exit 5 when it moved on)').argParser(integerParser('--expected-revision', 0)),
    )
    .action((id: string, file: string, flags: { disabled?: boolean; author?: string; message?: string; signature?: string; expectedRevision?: number }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const content = await readText(app, file, 'bundle file');
        const body = {
          content,
          ...(flags.disabled === true ? { enabled: false } : {}),
          ...definedFields({ author: flags.author, message: flags.message, signature: flags.signature, expected_revision: flags.expectedRevision }),
        };
        const client = await app.client();
        const b = (await client.request<BundleDetail>('PUT', bundlePath(id), { body })).body;
        app.print(b, () => [
          `draft of ${b.id} saved: revision ${b.revision}${b.kernel_check === undefined ? '' : `, kernel check ${b.kernel_check}`}`,
          `publish it with: cordumctl policy publish ${b.id}`,
        ]);
      }),
    );

  requestOptions(
    bundles
      .command('simulate')
      .description("Explain a request against a bundle's draft (or --content FILE) over the live policy")
      .argument('<id>', 'bundle id'),
  )
    .option('--content <file>', 'simulate this content instead of the stored draft')
    .option('--disabled', 'simulate the bundle switched off')
    .option('--default-decision <decision>', 'override the default decision')
    .action((id: string, flags: RequestFlags & { content?: string; disabled?: boolean; defaultDecision?: string }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const request = await checkBody(app, flags);
        const body = {
          request,
          ...(flags.content === undefined ? {} : { content: await readText(app, flags.content, '--content') }),
          ...(flags.disabled === true ? { enabled: false } : {}),
          ...definedFields({ default_decision: flags.defaultDecision }),
        };
        const e = await (await app.client()).post<PolicyExplain>(`${bundlePath(id)}/simulate`, body);
        app.print(e, () => explainLines(app, e));
      }),
    );

  bundles
    .command('history')
    .alias('snapshots')
    .description('Revisions of the bundles document, newest first: what policy rollback returns to')
    .addOption(limitOption())
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .option('--all', 'follow every page')
    .action((flags: PageFlags, cmd: Command) =>
      host.run(cmd, async (app) => {
        const page = await fetchPages<BundleRevision>(await app.client(), `${POLICY}/bundles/snapshots`, {}, flags);
        app.print(page, () =>
          page.items.length === 0
            ? ['No revisions.']
            : [
                ...renderTable<BundleRevision>(
                  [
                    { header: 'revision', value: (r) => String(r.revision) },
                    { header: 'at', value: (r) => formatTime(r.at) },
                    { header: 'by', value: (r) => r.by || '-' },
                    { header: 'action', value: (r) => r.action },
                    { header: 'live bundles', value: (r) => r.bundles.filter((b) => b.live).map((b) => b.id).join(',') || '-' },
                    { header: 'message', value: (r) => [r.message, r.note].filter((x) => x !== '').join(' / ') },
                  ],
                  page.items,
                  app.style,
                ),
                ...moreHint(page, 'cordumctl policy bundles history'),
              ],
        );
      }),
    );

  const change = (cmd: Command): Command =>
    cmd
      .option('--note <text>', 'a change note (ticket, reason)')
      .option('--message <text>', 'message')
      .option('--author <name>', 'author')
      .addOption(
        new Option('--expected-revision <n>', 'compare-and-set on the bundles document (exit 5 when it moved on)').argParser(integerParser('--expected-revision', 0)),
      );
  type ChangeFlags = { note?: string; message?: string; author?: string; expectedRevision?: number };
  const changeFields = (f: ChangeFlags): Record<string, unknown> =>
    definedFields({ note: f.note, message: f.message, author: f.author, expected_revision: f.expectedRevision });
  const publishLines = (p: PublishResponse, what: string): string[] => [
    `${what}: revision ${p.previous_revision} → ${p.revision}${p.bundle_ids.length === 0 ? ' (nothing changed)' : ` (${p.bundle_ids.join(', ')})`}; kernel ${p.kernel}`,
    ...(p.snapshot_after === null ? [] : [`snapshot ${p.snapshot_after}`]),
  ];

  change(
    policy
      .command('publish')
      .description('Make drafts live (default: every bundle with a draft); the kernel loads them')
      .argument('[bundle-id...]', 'the bundles whose drafts to publish'),
  ).action((ids: string[], flags: ChangeFlags, cmd: Command) =>
    host.run(cmd, async (app) => {
      const p = await (await app.client()).post<PublishResponse>(`${POLICY}/publish`, { ...(ids.length === 0 ? {} : { bundle_ids: ids }), ...changeFields(flags) });
      app.print(p, () => publishLines(p, 'published'));
    }),
  );

  change(
    policy
      .command('rollback')
      .description('Return the live bundles to an earlier revision (policy bundles history lists them); drafts are kept')
      .argument('<revision>', 'the bundles-document revision to return to'),
  ).action((revision: string, flags: ChangeFlags, cmd: Command) =>
    host.run(cmd, async (app) => {
      const rev = integerParser('revision', 1)(revision);
      const p = await (await app.client()).post<PublishResponse>(`${POLICY}/rollback`, { revision: rev, ...changeFields(flags) });
      app.print(p, () => publishLines(p, `rolled back to ${rev}`));
    }),
  );

  policy
    .command('audit')
    .description('Who changed which bundle, when (saves, publishes, rollbacks), newest first')
    .option('--bundle-id <id>', 'only this bundle')
    .addOption(limitOption())
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .option('--all', 'follow every page')
    .action((flags: PageFlags & { bundleId?: string }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const page = await fetchPages<PolicyAuditEntry>(await app.client(), `${POLICY}/audit`, { bundle_id: flags.bundleId }, flags);
        app.print(page, () =>
          page.items.length === 0
            ? ['No policy changes.']
            : [
                ...renderTable<PolicyAuditEntry>(
                  [
                    { header: 'at', value: (a) => formatTime(a.at) },
                    { header: 'action', value: (a) => a.action },
                    { header: 'bundle', value: (a) => a.subject },
                    { header: 'actor', value: (a) => `${a.actor}${a.tenant ? ` (${a.tenant})` : ''}` },
                    { header: 'revision', value: (a) => (typeof a.data['revision'] === 'number' ? String(a.data['revision']) : '-') },
                  ],
                  page.items,
                  app.style,
                ),
                ...moreHint(page, 'cordumctl policy audit'),
              ],
        );
      }),
    );
}
