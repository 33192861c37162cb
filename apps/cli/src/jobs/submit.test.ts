import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError } from '../errors.js';
import { buildSubmitBody, parseLabels, readJsonArgument, splitList } from './submit.js';

let dir: string;
const deps = () => ({ cwd: dir, readText: (p: string) => readFile(p, 'utf8') });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cordumctl-submit-'));
  await writeFile(join(dir, 'in.json'), '{"ticket": 42, "tags": ["a"]}');
  await writeFile(join(dir, 'in.yaml'), 'ticket: 43\nnested: {ok: true}\n');
  await writeFile(join(dir, 'bad.json'), '{"ticket": ');
  await writeFile(join(dir, '123.json'), '[1,2]');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('job submit flags → POST /api/v1/jobs body', () => {
  it('sends a prompt with every optional field, leaving empty ones out', async () => {
    const body = await buildSubmitBody(
      {
        topic: 'job.demo.echo',
        prompt: 'hello',
        idempotencyKey: 'ticket-42',
        capability: 'repo.write',
        riskTags: ['write, prod', 'write'],
        requires: ['network:egress'],
        labels: ['team=red,env=prod', '{"owner":"ops"}'],
        packId: 'tracker',
        priority: 'Critical',
        org: 'acme',
        actorId: 'alice',
        actorType: 'human',
      },
      deps(),
    );
    expect(body).toEqual({
      topic: 'job.demo.echo',
      prompt: 'hello',
      idempotency_key: 'ticket-42',
      capability: 'repo.write',
      risk_tags: ['write', 'prod'],
      requires: ['network:egress'],
      labels: { team: 'red', env: 'prod', owner: 'ops' },
      pack_id: 'tracker',
      priority: 'critical',
      tenant_id: 'acme',
      actor_id: 'alice',
      actor_type: 'human',
    });
    expect(await buildSubmitBody({ prompt: 'x', riskTags: [], labels: [] }, deps())).toEqual({ prompt: 'x' });
  });

  it('--input alone is the whole input; with --prompt it is the context', async () => {
    expect(await buildSubmitBody({ input: '{"a":1}' }, deps())).toEqual({ input: { a: 1 } });
    expect(await buildSubmitBody({ input: 'in.json' }, deps())).toEqual({ input: { ticket: 42, tags: ['a'] } });
    expect(await buildSubmitBody({ input: '@in.yaml', prompt: 'p' }, deps())).toEqual({ prompt: 'p', context: { ticket: 43, nested: { ok: true } } });
    expect(await buildSubmitBody({ input: '"just text"' }, deps())).toEqual({ input: 'just text' });
  });

  it('reads a file whose name looks like a number, and @ forces a file', async () => {
    expect(await readJsonArgument('123.json', '--input', deps())).toEqual([1, 2]);
    await expect(readJsonArgument('@42', '--input', deps())).rejects.toThrow(/--input: no such file .*42/);
  });

  it('refuses what the gateway would refuse, with the flag named (exit 2)', async () => {
    const cases: [Parameters<typeof buildSubmitBody>[0], RegExp][] = [
      [{ topic: 'job.x' }, /needs --prompt TEXT or --input/],
      [{ prompt: 'x', topic: 'demo.echo' }, /--topic: "demo.echo" must start with "job."/],
      [{ prompt: 'x', priority: 'urgent' }, /--priority: "urgent" is not one of interactive, batch, critical/],
      [{ prompt: 'x', actorType: 'robot' }, /--actor-type/],
      [{ input: '{"a":' }, /--input: inline JSON does not parse/],
      [{ input: 'missing.json' }, /--input: no such file .*missing\.json \(and not inline JSON\)/],
      [{ input: 'bad.json' }, /--input: .*bad\.json is not valid JSON/],
      [{ prompt: 'x', labels: ['team'] }, /--labels: expected key=value or a JSON object, got "team"/],
      [{ prompt: 'x', labels: ['{"n": 1}'] }, /--labels: the value of "n" must be a string/],
      [{ prompt: 'x', labels: ['{nope'] }, /--labels: not valid JSON/],
    ];
    for (const [flags, message] of cases) {
      const err = await buildSubmitBody(flags, deps()).catch((e: unknown) => e);
      expect(err, JSON.stringify(flags)).toBeInstanceOf(CliError);
      expect((err as CliError).exitCode).toBe(2);
      expect((err as CliError).message).toMatch(message);
    }
  });

  it('splits list flags and label pairs', () => {
    expect(splitList(['a,b', ' c ', 'a,,'])).toEqual(['a', 'b', 'c']);
    expect(parseLabels(['a=1,b=x=y', 'a=2'])).toEqual({ a: '2', b: 'x=y' });
  });
});
