import { type Command, Option } from 'commander';
import { parseDuration } from '@cordum/core/config';
import { stringify } from 'yaml';
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

/** Parser of an integer flag from `min` to `max` (commander argParser). */
export function integerParser(flag: string, min: number, max = Number.MAX_SAFE_INTEGER): (raw: string) => number {
  return (raw) => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw usageError(`${flag}: expected an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}, got ${JSON.stringify(raw)}`);
    }
    return n;
  };
}

/** Parser of a duration flag (`30s`, `5m`, `1h30m`, bare seconds) into milliseconds above 0. */
export function durationParser(flag: string): (raw: string) => number {
  return (raw) => {
    const ms = parseDuration(raw);
    if (ms === undefined || ms <= 0) throw usageError(`${flag}: ${JSON.stringify(raw)} is not a duration (e.g. 30s, 5m, 1h)`);
    return ms;
  };
}

/** A value as YAML lines indented under a field of a table view ('  {}' when empty). */
export function yamlLines(value: unknown, indent = '  '): string[] {
  const text = stringify(value ?? null, { lineWidth: 0 }).replace(/\n$/, '');
  return text.split('\n').map((line) => `${indent}${line}`);
}

/** `{k: v}` of the flags that were given (undefined, '' and empty lists left out), so the gateway's defaults apply. */
export function definedFields(fields: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
  return out;
}
