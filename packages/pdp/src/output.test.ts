import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { createManualClock } from '@cordum/core';
import { OutputCheckRequestSchema, OutputDecision } from '@cordum/protocol';
import { createMemoryStores } from '@cordum/store/memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PolicyRuntime, buildTopicIndex, createEmbeddedOutputPolicy, createPolicyRuntime } from './index.js';

const BUNDLE = `
output_rules:
  - id: quarantine-keys
    scanners: [secret]
    min_severity: critical
    decision: quarantine
    reason: key material
  - id: internal-pii-ok
    match: {labels: {audience: internal}}
    scanners: [pii]
    decision: allow
`;

const CARD = '4111 1111 1111 1111';
const PEM = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----';

describe('embedded output policy', () => {
  let dir: string;
  let runtime: PolicyRuntime;
  const clock = createManualClock(Date.now());
  const stores = createMemoryStores({ clock });
  const policy = () => createEmbeddedOutputPolicy(runtime, { pointers: stores.pointers, clock });
  const text = async (pointer: string) => Buffer.from((await stores.pointers.require(pointer)).bytes).toString('utf8');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cordum-out-'));
    await writeFile(join(dir, 'safety.yaml'), BUNDLE);
    runtime = createPolicyRuntime({ options: { basePath: join(dir, 'safety.yaml'), reloadIntervalMs: 0, fragments: null, packsRef: null } });
    await runtime.start();
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  type Fields = {
    content?: string;
    jobId?: string;
    tenant?: string;
    resultPtr?: string;
    labels?: Record<string, string>;
    errorMessage?: string;
    outputContent?: Uint8Array;
    outputSizeBytes?: bigint;
  };
  const req = (fields: Fields) => {
    const { content, ...rest } = fields;
    return create(OutputCheckRequestSchema, {
      jobId: 'job-1',
      topic: 'job.report',
      tenant: 'acme',
      ...(content === undefined ? {} : { outputContent: new TextEncoder().encode(content), outputSizeBytes: BigInt(Buffer.byteLength(content)) }),
      ...rest,
    });
  };

  it('ALLOW without findings: nothing written', async () => {
    const res = await policy().checkOutput(req({ jobId: 'clean', content: '{"ok":true}' }));
    expect(res).toMatchObject({ decision: OutputDecision.ALLOW, ruleId: 'default', findings: [], redactedPtr: '' });
    expect(res.policySnapshot).toBe(runtime.snapshot().id);
    expect(await stores.pointers.get('redis://res:clean:redacted')).toBeUndefined();
  });

  it('REDACT (no rule for the findings): writes the masked output beside the original; offsets are bytes', async () => {
    const content = `{"note":"héllo ✓","card":"${CARD}","mail":"bob@example.org"}`;
    await stores.pointers.putResult('job-r', { tenant: 'acme', bytes: content, contentType: 'application/json', ttlMs: 3_600_000 });
    const res = await policy().checkOutput(req({ jobId: 'job-r', resultPtr: 'redis://res:job-r', content }));
    expect(res.decision).toBe(OutputDecision.REDACT);
    expect(res.redactedPtr).toBe('redis://res:job-r:redacted');
    expect(await text(res.redactedPtr)).toBe('{"note":"héllo ✓","card":"[REDACTED:credit_card]","mail":"[REDACTED:email]"}');
    expect(await text('redis://res:job-r')).toBe(content);
    const bytes = Buffer.from(content);
    const card = res.findings.find((f) => f.type === 'credit_card')!;
    expect(bytes.subarray(Number(card.offset), Number(card.offset + card.length)).toString()).toBe(CARD);
    expect(card).toMatchObject({ scanner: 'pii', severity: 'high', matchedPattern: 'card_number_luhn' });
    // The copy lives as long as the output it replaces, and belongs to the same tenant.
    const copy = await stores.pointers.require(res.redactedPtr);
    const original = await stores.pointers.require('redis://res:job-r');
    expect(copy).toMatchObject({ tenant: 'acme', contentType: 'application/json', expiresAt: original.expiresAt });
  });

  it('QUARANTINE per output rules; ALLOW when a rule allows', async () => {
    const q = await policy().checkOutput(req({ content: `key:\n${PEM}\nand ${CARD}` }));
    expect(q).toMatchObject({ decision: OutputDecision.QUARANTINE, ruleId: 'quarantine-keys', reason: 'key material', redactedPtr: '' });
    expect(q.findings.map((f) => f.type)).toEqual(['private_key', 'credit_card']);
    const ok = await policy().checkOutput(req({ content: `mail bob@example.org`, labels: { audience: 'internal' } }));
    expect(ok).toMatchObject({ decision: OutputDecision.ALLOW, ruleId: 'internal-pii-ok' });
  });

  it('reads the whole output behind result_ptr when the request carries none, only for the same tenant', async () => {
    await stores.pointers.putResult('job-p', { tenant: 'acme', bytes: `card ${CARD}` });
    const res = await policy().checkOutput(req({ jobId: 'job-p', resultPtr: 'redis://res:job-p' }));
    expect(res.decision).toBe(OutputDecision.REDACT);
    expect(await text(res.redactedPtr)).toBe('card [REDACTED:credit_card]');
    // Another tenant's pointer is not read (nothing scanned, nothing copied), and never passes unchecked.
    const foreign = await policy().checkOutput(req({ jobId: 'job-x', tenant: 'globex', resultPtr: 'redis://res:job-p' }));
    expect(foreign).toMatchObject({ decision: OutputDecision.QUARANTINE, ruleId: 'builtin:foreign_result', findings: [], redactedPtr: '' });
    expect(foreign.reason).toContain('another tenant');
  });

  it('a capped output that cannot be read in full is quarantined instead of redacted', async () => {
    const content = `card ${CARD} …`;
    const res = await policy().checkOutput(
      req({ jobId: 'job-c', outputContent: new TextEncoder().encode(content), outputSizeBytes: 10_000_000n, resultPtr: 'redis://res:missing' }),
    );
    expect(res.decision).toBe(OutputDecision.QUARANTINE);
    expect(res.reason).toMatch(/no redacted copy can be made/);
  });

  it('a request carrying less than the stored output (with a size that says it is all) redacts the whole stored output', async () => {
    const full = `head ${CARD} ${'x'.repeat(64)} tail bob@example.org`;
    const resultPtr = await stores.pointers.putResult('job-t', { tenant: 'acme', bytes: full });
    // The caller capped the content at 24 bytes and sent 24 as the size: only the card is in hand.
    const capped = new TextEncoder().encode(full).subarray(0, 24);
    const res = await policy().checkOutput(req({ jobId: 'job-t', resultPtr, outputContent: capped, outputSizeBytes: 24n }));
    expect(res.decision).toBe(OutputDecision.REDACT);
    expect(res.findings.map((f) => f.type)).toEqual(['credit_card', 'email']);
    // Not a 24-byte copy: the whole output, every finding masked.
    expect(await text(res.redactedPtr)).toBe(`head [REDACTED:credit_card] ${'x'.repeat(64)} tail [REDACTED:email]`);
  });

  it('scans error_message too (offsets within it)', async () => {
    const res = await policy().checkOutput(req({ errorMessage: 'login failed for eve@example.com' }));
    expect(res.findings).toHaveLength(1);
    expect(res.findings[0]).toMatchObject({ type: 'email', offset: 17n, length: 15n, detail: 'error_message: email address' });
    // No content finding: nothing to copy.
    expect(res).toMatchObject({ decision: OutputDecision.REDACT, redactedPtr: '' });
  });

  it('binary (non-UTF-8) output is scanned and redacted byte for byte', async () => {
    const content = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00]), Buffer.from(` ${CARD} `), Buffer.from([0xc3, 0x28])]);
    const res = await policy().checkOutput(req({ jobId: 'job-b', outputContent: content, outputSizeBytes: BigInt(content.length) }));
    expect(res.decision).toBe(OutputDecision.REDACT);
    expect(res.findings[0]).toMatchObject({ offset: 4n, length: 19n });
    const copy = Buffer.from((await stores.pointers.require(res.redactedPtr)).bytes);
    expect(copy.equals(Buffer.concat([Buffer.from([0xff, 0xfe, 0x00]), Buffer.from(' [REDACTED:credit_card] '), Buffer.from([0xc3, 0x28])]))).toBe(true);
  });

  it('scans only the first maxScanBytes and says so', async () => {
    const small = createEmbeddedOutputPolicy(runtime, { pointers: stores.pointers, maxScanBytes: 16 });
    const res = await small.checkOutput(req({ content: `${'x'.repeat(20)} ${CARD}` }));
    expect(res.decision).toBe(OutputDecision.ALLOW);
    expect(res.reason).toMatch(/scanned the first 16 of 40 bytes/);
  });
});

describe('buildTopicIndex', () => {
  it('skips malformed registry entries and reports them', () => {
    const { index, problems } = buildTopicIndex({
      good: { manifest: { topics: [{ name: 'job.good.x', risk_tags: ['read'], capability: 'good.x' }] } },
      notamap: 'x',
      badtopics: { manifest: { topics: 'job.x' } },
      noname: { manifest: { topics: [{ riskTags: ['x'] }] } },
      nomanifest: { status: 'ACTIVE' },
    });
    expect([...index.values()]).toEqual([{ topic: 'job.good.x', riskTags: ['read'], capability: 'good.x', packs: ['good'] }]);
    expect(problems).toEqual([
      'pack badtopics: manifest.topics is not a list',
      'pack noname: manifest.topics[0] has no name',
      'pack notamap: registry entry is not a map',
    ]);
    expect(buildTopicIndex(['x']).problems).toEqual(['packs registry: installed is not a map']);
    expect(buildTopicIndex(undefined).index.size).toBe(0);
  });
});
