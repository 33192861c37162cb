import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError } from '../errors.js';
import { readBytesArgument, readDocumentArgument, requireObject } from './read.js';

let dir: string;
const stdin = (text: string) => () => Promise.resolve(new TextEncoder().encode(text));
const src = (input = '') => ({ cwd: dir, readStdin: stdin(input) });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cordumctl-read-'));
  await writeFile(join(dir, 'doc.yaml'), 'limits:\n  max: 5\n');
  await writeFile(join(dir, 'doc.json'), '{"limits": {"max": 6}}');
  await writeFile(join(dir, 'plain'), 'a: 1\n');
  await writeFile(join(dir, 'bad.json'), '{"a": ');
  await writeFile(join(dir, 'list.yaml'), '- 1\n- 2\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('readDocumentArgument', () => {
  it('reads files by extension (JSON, YAML, and either for others), with @path or a bare path', async () => {
    expect(await readDocumentArgument('doc.yaml', 'x', src(), { inline: true })).toMatchObject({ value: { limits: { max: 5 } }, format: 'yaml', source: join(dir, 'doc.yaml') });
    expect(await readDocumentArgument('@doc.json', 'x', src(), { inline: false })).toMatchObject({ value: { limits: { max: 6 } }, format: 'json' });
    expect(await readDocumentArgument('plain', 'x', src(), { inline: true })).toMatchObject({ value: { a: 1 }, format: 'yaml', text: 'a: 1\n' });
  });

  it('takes inline JSON or YAML when allowed and no such file exists', async () => {
    expect(await readDocumentArgument('{"a": [1]}', 'x', src(), { inline: true })).toMatchObject({ value: { a: [1] }, format: 'json', source: 'inline' });
    expect(await readDocumentArgument('a: {b: 2}', 'x', src(), { inline: true })).toMatchObject({ value: { a: { b: 2 } }, format: 'yaml', source: 'inline' });
  });

  it('reads standard input for -', async () => {
    expect(await readDocumentArgument('-', 'x', src('k: v\n'), { inline: false })).toMatchObject({ value: { k: 'v' }, source: '-' });
  });

  it('says which file is missing or broken instead of guessing', async () => {
    await expect(readDocumentArgument('missing.yaml', '--file', src(), { inline: true })).rejects.toThrow(`--file: no such file ${join(dir, 'missing.yaml')}`);
    await expect(readDocumentArgument('a: b', '--file', src(), { inline: false })).rejects.toThrow(/no such file/);
    await expect(readDocumentArgument('bad.json', 'doc', src(), { inline: true })).rejects.toThrow(new RegExp(`doc: ${join(dir, 'bad.json')} is not valid JSON: `));
    await expect(readDocumentArgument('{"a": ', 'doc', src(), { inline: true })).rejects.toThrow(/doc \(inline\) is not valid JSON or YAML/);
    const err = await readDocumentArgument('.', 'doc', src(), { inline: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect(err).toMatchObject({ exitCode: 2, message: expect.stringMatching(/is a directory/) as string });
  });

  it('requireObject names what was found instead of an object', async () => {
    expect(requireObject(await readDocumentArgument('doc.yaml', 'x', src(), { inline: true }), 'x')).toEqual({ limits: { max: 5 } });
    expect(() => requireObject({ value: [1], text: '', format: 'yaml', source: '/f.yaml' }, 'config set')).toThrow('config set: /f.yaml: expected an object (JSON {…} or YAML key: value), got a list');
    expect(() => requireObject({ value: 'x', text: 'x', format: 'yaml', source: 'inline' }, 'doc')).toThrow('doc (inline): expected an object (JSON {…} or YAML key: value), got a string');
  });
});

describe('readBytesArgument', () => {
  it('reads a file or standard input as bytes', async () => {
    const file = await readBytesArgument('doc.json', 'artifact put', src());
    expect([Buffer.from(file.bytes).toString(), file.path]).toEqual(['{"limits": {"max": 6}}', join(dir, 'doc.json')]);
    const piped = await readBytesArgument('-', 'artifact put', src('raw'));
    expect([Buffer.from(piped.bytes).toString(), piped.path]).toEqual(['raw', null]);
    await expect(readBytesArgument('nope.bin', 'artifact put', src())).rejects.toThrow(`artifact put: no such file ${join(dir, 'nope.bin')}`);
  });
});
