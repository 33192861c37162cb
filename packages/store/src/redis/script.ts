import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { mapRedisError } from './errors.js';

// Lua scripts live in packages/store/lua/<name>.lua (shipped with the package). Each file starts with a
// header listing its KEYS and ARGV. A line `-- @include <name>` is replaced by lua/<name>.lua (shared
// functions), so every script is still sent as one self-contained source. Scripts run by EVALSHA, loading
// themselves on NOSCRIPT.

const LUA_DIR = new URL('../../lua/', import.meta.url);

export type RedisScript = {
  readonly name: string;
  /** ARGV may hold Buffers: ioredis sends them verbatim, so binary content survives the trip. */
  run(client: Redis, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown>;
};

const INCLUDE = /^-- @include ([a-z0-9-]+)$/gm;

function readScript(name: string, seen: readonly string[] = []): string {
  if (seen.includes(name)) throw new TypeError(`Lua include cycle: ${[...seen, name].join(' -> ')}`);
  const text = readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8');
  return text.replace(INCLUDE, (_, included: string) => readScript(included, [...seen, name]));
}

export function loadScript(name: string): RedisScript {
  const source = readScript(name);
  const sha = createHash('sha1').update(source).digest('hex');
  return {
    name,
    async run(client, keys, args) {
      try {
        try {
          return await client.evalsha(sha, keys.length, ...keys, ...args);
        } catch (err) {
          if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
          return await client.eval(source, keys.length, ...keys, ...args);
        }
      } catch (err) {
        throw mapRedisError(err, `script ${name}`);
      }
    },
  };
}
