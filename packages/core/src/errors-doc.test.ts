import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from './index.js';

const docPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'errors.md');

describe('docs/errors.md', () => {
  it('lists exactly the codes of ERROR_CATALOGUE with the same kind, status and meaning', async () => {
    const doc = await readFile(docPath, 'utf8');
    const rows = [...doc.matchAll(/^\| `([a-z_]+)` \| ([a-z_]+) \| (\d{3}) \| (.+) \|$/gm)].map((m) => ({
      code: m[1],
      kind: m[2],
      http: Number(m[3]),
      summary: m[4],
    }));
    const expected = Object.entries(ERROR_CATALOGUE).map(([code, e]) => ({
      code,
      kind: e.kind,
      http: e.http,
      summary: e.summary,
    }));
    expect(rows).toEqual(expected);
  });
});
