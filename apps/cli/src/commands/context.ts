import type { Command } from 'commander';
import { globalFlags, type CommandHost } from '../cli/host.js';
import { type ContextEntry, checkContextName, checkGatewayUrl, writeContexts } from '../contexts/contexts.js';
import { CliError, usageError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { renderTable } from '../output/format.js';

// cordumctl context list|current|use|set|delete — named gateways and keys in the contexts file.

function unknownContext(name: string, known: readonly string[]): CliError {
  return new CliError(`no context named ${JSON.stringify(name)}`, {
    exitCode: EXIT.notFound,
    code: 'not_found',
    hint: known.length === 0 ? 'create one with: cordumctl context set NAME --gateway URL [--api-key KEY]' : `known contexts: ${known.join(', ')}`,
  });
}

export function registerContext(program: Command, host: CommandHost): void {
  const context = program
    .command('context')
    .description('Named contexts (gateway + API key) in the contexts file, like kubectl contexts');

  context
    .command('list')
    .description('Every context; * marks the current one (keys are never shown)')
    .action((_flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        const file = await app.contexts();
        const rows = Object.entries(file.contexts).map(([name, c]) => ({
          name,
          current: name === file.currentContext,
          gateway: c.gateway ?? null,
          api_key_set: c.apiKey !== undefined,
        }));
        app.print({ file: app.contextsPath, current_context: file.currentContext ?? null, contexts: rows }, () =>
          rows.length === 0
            ? [`No contexts in ${app.contextsPath}. Create one: cordumctl context set NAME --gateway URL [--api-key KEY]`]
            : renderTable(
                [
                  { header: 'current', value: (r: (typeof rows)[number]) => (r.current ? '*' : '') },
                  { header: 'name', value: (r) => r.name },
                  { header: 'gateway', value: (r) => r.gateway ?? '(default)' },
                  { header: 'api key', value: (r) => (r.api_key_set ? 'set' : '-') },
                ],
                rows,
                app.style,
              ),
        );
      }),
    );

  context
    .command('current')
    .description('The current context')
    .action((_flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        const file = await app.contexts();
        if (file.currentContext === undefined) {
          throw new CliError(`no current context in ${app.contextsPath}`, { exitCode: EXIT.notFound, code: 'not_found', hint: 'pick one: cordumctl context use NAME' });
        }
        app.print({ current_context: file.currentContext }, () => [file.currentContext ?? '']);
      }),
    );

  context
    .command('use')
    .description('Make a context the current one')
    .argument('<name>')
    .action((name: string, _flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        const file = await app.contexts();
        if (file.contexts[name] === undefined) throw unknownContext(name, Object.keys(file.contexts));
        await writeContexts(app.contextsPath, { ...file, currentContext: name });
        app.print({ current_context: name }, () => [`current context: ${name}`]);
      }),
    );

  context
    .command('set')
    .description('Create or update a context from --gateway and --api-key (an empty --api-key "" removes the key)')
    .argument('<name>')
    .option('--use', 'also make it the current context')
    .action((name: string, flags: { use?: boolean }, cmd: Command) =>
      host.run(cmd, async (app) => {
        checkContextName(name);
        const g = globalFlags(cmd);
        const file = await app.contexts();
        const before: ContextEntry = file.contexts[name] ?? {};
        if (g.gateway === undefined && g.apiKey === undefined && file.contexts[name] !== undefined && flags.use !== true) {
          throw usageError(`context set ${name}: nothing to change (give --gateway URL and/or --api-key KEY)`);
        }
        const gateway = g.gateway === undefined ? before.gateway : checkGatewayUrl(g.gateway, '--gateway');
        const apiKey = g.apiKey === undefined ? before.apiKey : g.apiKey === '' ? undefined : g.apiKey;
        const entry: ContextEntry = { ...(gateway === undefined ? {} : { gateway }), ...(apiKey === undefined ? {} : { apiKey }) };
        const currentContext = flags.use === true || file.currentContext === undefined ? name : file.currentContext;
        await writeContexts(app.contextsPath, { currentContext, contexts: { ...file.contexts, [name]: entry } });
        app.print({ name, gateway: entry.gateway ?? null, api_key_set: entry.apiKey !== undefined, current: currentContext === name }, () => [
          `context ${name} ${file.contexts[name] === undefined ? 'created' : 'updated'}${currentContext === name ? ' (current)' : ''} in ${app.contextsPath}`,
        ]);
      }),
    );

  context
    .command('delete')
    .description('Remove a context')
    .argument('<name>')
    .action((name: string, _flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        const file = await app.contexts();
        if (file.contexts[name] === undefined) throw unknownContext(name, Object.keys(file.contexts));
        const contexts = Object.fromEntries(Object.entries(file.contexts).filter(([n]) => n !== name));
        await writeContexts(app.contextsPath, { currentContext: file.currentContext === name ? undefined : file.currentContext, contexts });
        app.print({ name, deleted: true }, () => [`context ${name} deleted`]);
      }),
    );
}
