import { type Command, Option } from 'commander';
import { usageError } from '../errors.js';
import type { GatewayClient, Query } from '../gateway/client.js';
import type { Page } from '../gateway/types.js';

// Flag helpers shared by the command files.

/** Repeatable flag: collects every value. */
export const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** --limit N (1-1000). */
export function limitOption(): Option {
  return new Option('--limit <n>', 'page size (1-1000)').argParser((raw) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw usageError(`--limit: expected an integer from 1 to 1000, got ${JSON.stringify(raw)}`);
    return n;
  });
}

export type PageFlags = { limit?: number; cursor?: string; all?: boolean };

/**
 * One page (`--limit`, `--cursor`), or with --all every page followed through next_cursor. The answer keeps
 * the gateway's shape {items, next_cursor}.
 */
export async function fetchPages<T>(client: GatewayClient, path: string, query: Query, flags: PageFlags): Promise<Page<T>> {
  if (flags.all === true && flags.cursor !== undefined) throw usageError('--all and --cursor do not go together');
  const first = await client.get<Page<T>>(path, { ...query, limit: flags.limit, cursor: flags.cursor });
  if (flags.all !== true) return first;
  const items = [...first.items];
  let cursor = first.next_cursor;
  while (cursor !== null) {
    const page = await client.get<Page<T>>(path, { ...query, limit: flags.limit ?? 1000, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
  }
  return { items, next_cursor: null };
}

/** The "more" hint under a table page. */
export function moreHint(page: { next_cursor: string | null }, command: string): string[] {
  return page.next_cursor === null ? [] : ['', `more: ${command} --cursor ${page.next_cursor}  (or --all)`];
}

/** The group command `name` of the program, created on first use (so several files can add to one group). */
export function groupCommand(program: Command, name: string, description: string): Command {
  const found = program.commands.find((c) => c.name() === name);
  return found ?? program.command(name).description(description);
}
