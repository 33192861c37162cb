import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type ScanFinding, findSecretRefs, hasSecretRefs, luhnValid, redactText, scanText } from './index.js';

const types = (text: string): string[] => scanText(text).map((f) => f.type);
const matched = (text: string, f: ScanFinding): string => text.slice(f.offset, f.offset + f.length);

/** Deterministic "random-looking" base64 of n bytes. */
const b64 = (n: number, seed = 7): string =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + seed * 11 + ((i * i) % 13)) & 255)).toString('base64');

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('private keys', () => {
  const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();

  it('finds a whole PEM block, of any key kind', () => {
    const text = `here is the key:\n${pem}\nbye`;
    const [f, ...rest] = scanText(text);
    expect(rest).toEqual([]);
    expect(f).toMatchObject({ type: 'private_key', scanner: 'secret', severity: 'critical', confidence: 1 });
    expect(matched(text, f!)).toBe(pem.trim());
    const rsa = '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----';
    expect(scanText(`x ${rsa} y`).map((x) => matched(`x ${rsa} y`, x))).toEqual([rsa]);
    const pgp = '-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQ\n-----END PGP PRIVATE KEY BLOCK-----';
    expect(scanText(pgp)[0]).toMatchObject({ offset: 0, length: pgp.length, detail: 'PEM PGP PRIVATE KEY block' });
  });

  it('covers a truncated block up to where its base64 ends', () => {
    const text = `${pem.split('\n').slice(0, 2).join('\n')}\n…cut`;
    const [f] = scanText(text);
    expect(f).toMatchObject({ type: 'private_key', confidence: 0.9, offset: 0 });
    expect(matched(text, f!)).not.toContain('cut');
  });

  it('ignores public keys and certificates', () => {
    const pub = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(scanText(pub)).toEqual([]);
    expect(scanText('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----')).toEqual([]);
  });
});

describe('cloud access keys', () => {
  const keyId = 'AKIAZ7Q4N3M2L1K0J9H8';
  const secret = 'Zx9Qm2Lk8Jh7Gf6Ds5Ap4Ow3Ie2Ur1Yt0Ti9Re8W';

  it('AWS: access key ids (AKIA, ASIA), labelled secrets, and a secret paired with a key id', () => {
    expect(secret).toHaveLength(40);
    const text = `aws_access_key_id = ${keyId}\naws_secret_access_key = ${secret}\n`;
    const found = scanText(text);
    expect(found.map((f) => [f.type, matched(text, f)])).toEqual([
      ['aws_access_key_id', keyId],
      ['aws_secret_access_key', secret],
    ]);
    expect(found[1]).toMatchObject({ severity: 'critical', confidence: 0.9, matchedPattern: 'aws_secret_access_key' });

    const pair = `creds: ${keyId.replace('AKIA', 'ASIA')} ${secret}`;
    expect(scanText(pair).map((f) => [f.type, f.matchedPattern, f.confidence])).toEqual([
      ['aws_access_key_id', 'aws_access_key_id', 0.9],
      ['aws_secret_access_key', 'aws_key_pair', 0.7],
    ]);
    expect(scanText(pair)[0]!.detail).toContain('temporary (ASIA)');
  });

  it('AWS: no key id without the exact shape; bare 40-char strings alone are not secrets', () => {
    expect(scanText('AKIA1234 and AKIAz7q4n3m2l1k0j9h8 and XAKIAZ7Q4N3M2L1K0J9H8')).toEqual([]);
    expect(scanText(`checksum ${secret}`)).toEqual([]);
    // A 40-character hex digest next to a key id is not random base64 (no upper and lower case mix).
    expect(types(`${keyId} sha1 ${'a1b2c3d4e5'.repeat(4)}`)).toEqual(['aws_access_key_id']);
    // AWS documentation's example key: reported, with low confidence.
    expect(scanText('AKIAIOSFODNN7EXAMPLE')[0]).toMatchObject({ type: 'aws_access_key_id', confidence: 0.3 });
  });

  it('GCP: service-account key files (key id and PEM private key)', () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const json = JSON.stringify(
      {
        type: 'service_account',
        project_id: 'demo',
        private_key_id: '0123456789abcdef0123456789abcdef01234567',
        private_key: pem,
        client_email: 'bot@demo.iam.gserviceaccount.com',
      },
      null,
      2,
    );
    const found = scanText(json);
    expect(found.map((f) => f.type).sort()).toEqual(['email', 'gcp_service_account_key', 'private_key']);
    const id = found.find((f) => f.type === 'gcp_service_account_key')!;
    expect(matched(json, id)).toBe('0123456789abcdef0123456789abcdef01234567');
    // The PEM inside JSON has escaped line breaks; the block is still covered whole.
    const key = found.find((f) => f.type === 'private_key')!;
    expect(matched(json, key)).toMatch(/^-----BEGIN PRIVATE KEY-----\\n.*-----END PRIVATE KEY-----$/s);
  });

  it('GCP: a private_key_id outside a service-account document is not reported', () => {
    expect(scanText('{"type":"user","private_key_id":"0123456789abcdef0123456789abcdef01234567"}')).toEqual([]);
  });

  it('Azure: storage account keys in connection strings and labelled', () => {
    const key = b64(64);
    expect(key).toHaveLength(88);
    const conn = `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${key};EndpointSuffix=core.windows.net`;
    const [f] = scanText(conn);
    expect(f).toMatchObject({ type: 'azure_storage_key', severity: 'critical', matchedPattern: 'azure_connection_string' });
    expect(matched(conn, f!)).toBe(key);
    expect(scanText(`AZURE_STORAGE_KEY="${key}"`)[0]).toMatchObject({ type: 'azure_storage_key', confidence: 0.9 });
  });

  it('Azure: an unlabelled 88-character base64 value is not reported', () => {
    expect(scanText(`blob=${b64(64, 3)}`)).toEqual([]);
    expect(scanText(`AccountKey=${b64(63)}`)).toEqual([]);
  });
});

describe('bearer and API tokens', () => {
  it('Authorization headers and bare bearer tokens; only the token is the finding', () => {
    const text = 'GET / HTTP/1.1\r\nAuthorization: Bearer abcDEF123456ghiJKL789xyz\r\n';
    const [f, ...rest] = scanText(text);
    expect(rest).toEqual([]);
    expect(f).toMatchObject({ type: 'bearer_token', confidence: 0.95, matchedPattern: 'authorization_bearer' });
    expect(matched(text, f!)).toBe('abcDEF123456ghiJKL789xyz');
    expect(scanText('{"headers":{"authorization":"Bearer q1w2e3r4t5y6"}}')[0]).toMatchObject({ type: 'bearer_token' });
    expect(scanText('curl -H "X: Bearer 0123456789abcdefABCDEF"')[0]).toMatchObject({ type: 'bearer_token', confidence: 0.7 });
  });

  it('prose about bearer authentication is not a token', () => {
    expect(scanText('Bearer authentication is configured per route; see Authorization: Bearer <token>.')).toEqual([]);
  });

  it('vendor token prefixes', () => {
    const tokens = [
      `ghp_${'aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE2fG4'}`,
      'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx',
      'sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34',
      'sk_live_4eC39HqLyjWDarjtT1zdp7dc',
      `AIza${'SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q'}`,
      'glpat-xY9zW8vU7tS6rQ5pO4nM',
      `npm_${'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8'}`,
    ];
    for (const token of tokens) {
      const text = `token=${token} end`;
      const found = scanText(text);
      expect(found.map((f) => [f.type, matched(text, f)]), token).toEqual([['api_token', token]]);
      expect(found[0]!.matchedPattern).toMatch(/^token_prefix:/);
    }
  });

  it('words that start like token prefixes are not tokens', () => {
    expect(scanText('pip install sk-learn-classifier-for-documents; task-1234567890abcdefghij')).toEqual([]);
    expect(scanText('ghp_short and xoxb-1 and mask_live_abc')).toEqual([]);
    // Inside a longer identifier.
    expect(scanText(`myghp_${'aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE2fG4'}`)).toEqual([]);
  });
});

describe('JWTs', () => {
  const jwt = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url({ sub: 'alice', exp: 1 })}.c2lnbmF0dXJlX2J5dGVz`;

  it('three base64url parts with a JSON header naming alg', () => {
    const text = `token: ${jwt}.`;
    const [f] = scanText(text);
    expect(f).toMatchObject({ type: 'jwt', severity: 'high', confidence: 0.95, detail: 'JWT (alg HS256)' });
    expect(matched(text, f!)).toBe(jwt);
    // Unsigned (alg none) tokens still carry claims.
    const unsigned = `${b64url({ alg: 'none' })}.${b64url({ sub: 'x' })}.`;
    expect(types(unsigned)).toEqual(['jwt']);
  });

  it('a JWT in an Authorization header is both a bearer token and a JWT', () => {
    expect(types(`Authorization: Bearer ${jwt}`).sort()).toEqual(['bearer_token', 'jwt']);
  });

  it('base64 that is not a JWT', () => {
    // Header is JSON but has no alg.
    expect(scanText(`${b64url({ not: 'jwt' })}.${b64url({ a: 1 })}.sig`)).toEqual([]);
    // eyJ prefix, header not JSON.
    expect(scanText('eyJub3QganNvbg.eyJhIjox.c2ln')).toEqual([]);
    // Dotted base64 without a JSON header, a version number, a single base64 JSON part.
    expect(scanText(`aGVsbG8.d29ybGQ.Zm9v 1.2.3 ${b64url({ alg: 'HS256' })}`)).toEqual([]);
  });
});

describe('emails', () => {
  it('addresses in text, mailto links and URL paths', () => {
    const text = 'Contact alice.smith+ops@example.co.uk. Or <mailto:bob@example.org>, https://x.test/users/carol@example.com/profile';
    expect(scanText(text).map((f) => matched(text, f))).toEqual([
      'alice.smith+ops@example.co.uk',
      'bob@example.org',
      'carol@example.com',
    ]);
    expect(scanText(text)[0]).toMatchObject({ type: 'email', scanner: 'pii', severity: 'low' });
  });

  it('URL userinfo, file names, package specs and hosts without a TLD are not addresses', () => {
    expect(
      scanText(
        [
          'https://deploy@registry.example.com/v2/',
          'git clone https://user:pa55@git.example.com/repo.git',
          'icon@2x.png logo@3x.webp',
          'npm i @scope/pkg@1.2.3',
          'root@localhost',
          'a@b.c',
          'image@sha256:abc',
        ].join('\n'),
      ),
    ).toEqual([]);
  });

  it('is linear on hostile input', () => {
    const text = `${'a'.repeat(200_000)}@${'b'.repeat(200_000)}`;
    const t0 = performance.now();
    expect(scanText(text)).toEqual([]);
    expect(performance.now() - t0).toBeLessThan(2_000);
  });
});

describe('credit cards', () => {
  it('Luhn', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(luhnValid('79927398713')).toBe(true);
    expect(luhnValid('4111-1111')).toBe(false);
  });

  it('13-19 digits with or without separators, Luhn-valid, from a known issuer range', () => {
    const text = 'visa 4111 1111 1111 1111, mc 5500-0000-0000-0004, amex 378282246310005, exp 4012888888881881 12 25';
    const found = scanText(text);
    expect(found.map((f) => matched(text, f))).toEqual([
      '4111 1111 1111 1111',
      '5500-0000-0000-0004',
      '378282246310005',
      '4012888888881881',
    ]);
    expect(found[0]).toMatchObject({ type: 'credit_card', scanner: 'pii', severity: 'high', detail: 'visa card number ending 1111' });
    expect(found[2]!.detail).toBe('amex card number ending 0005');
    // A card number followed by its expiry date in the same digit run.
    const withExpiry = 'card 4111 1111 1111 1111 12 25';
    expect(scanText(withExpiry).map((f) => matched(withExpiry, f))).toEqual(['4111 1111 1111 1111']);
  });

  it('finds cards inside long runs of numbers (a row with a date and time, a table)', () => {
    const row = '2024 01 15 10 30 00 4111 1111 1111 1111 12 25 123';
    expect(scanText(row).map((f) => matched(row, f))).toEqual(['4111 1111 1111 1111']);
    const table = `${Array.from({ length: 200 }, (_, i) => String(i + 1)).join(' ')} 5500 0000 0000 0004 7 8 9`;
    expect(scanText(table).map((f) => matched(table, f))).toEqual(['5500 0000 0000 0004']);
    // "5104 4111 1111 1111" is itself a valid number; the card is the span that reaches further, so that its
    // last group is masked too.
    const shifted = 'ref 5104 4111 1111 1111 1111';
    expect(scanText(shifted).map((f) => matched(shifted, f))).toEqual(['4111 1111 1111 1111']);
  });

  it('stays fast on long digit runs', () => {
    const t0 = performance.now();
    for (const text of ['4 '.repeat(500_000), '41 '.repeat(400_000), '4-1-'.repeat(250_000)]) scanText(text);
    expect(performance.now() - t0).toBeLessThan(3_000);
  });

  it('numbers that are not cards', () => {
    expect(
      scanText(
        [
          '4111 1111 1111 1112', // a 16-digit number failing Luhn
          '1712345678901', // an epoch in ms: no issuer starts with 17
          '0000 0000 0000 0000', // passes Luhn, no issuer
          '4444444444444444', // repeated digit
          'order-4111111111111111', // part of an identifier
          'x4111111111111111',
          '3.4111111111111111', // a decimal
          '411111111111', // 12 digits
          '41111111111111111111', // 20 digits
          '555-123-4567',
        ].join('\n'),
      ),
    ).toEqual([]);
  });
});

describe('scanText options', () => {
  it('filters by type and bounds the number of findings', () => {
    const text = 'a@example.com 4111111111111111 b@example.com';
    expect(scanText(text, { types: ['credit_card'] }).map((f) => f.type)).toEqual(['credit_card']);
    expect(scanText(text, { maxFindings: 1 })).toHaveLength(1);
    expect(scanText('')).toEqual([]);
  });

  it('findings never carry the secret', () => {
    const secret = 'ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE2fG4';
    for (const f of scanText(`${secret} 4111111111111111 alice@example.com`)) {
      expect(JSON.stringify(f)).not.toContain(secret.slice(4));
      expect(f.detail).not.toContain('4111111111111111');
      expect(f.detail).not.toContain('alice');
    }
  });
});

describe('redactText', () => {
  it('masks each finding, by default with its type', () => {
    const text = 'mail alice@example.com card 4111 1111 1111 1111 end';
    expect(redactText(text, scanText(text))).toBe('mail [REDACTED:email] card [REDACTED:credit_card] end');
    expect(redactText(text, scanText(text), { mask: '***' })).toBe('mail *** card *** end');
    expect(redactText(text, scanText(text), { mask: (f) => `<${f.scanner}>` })).toBe('mail <pii> card <pii> end');
  });

  it('merges overlapping and touching spans, clamps out-of-range ones, keeps text without findings', () => {
    const spans = [
      { offset: 2, length: 4, type: 'a' },
      { offset: 4, length: 4, type: 'b' },
      { offset: 8, length: 2, type: 'c' },
      { offset: 18, length: 100, type: 'd' },
      { offset: -5, length: 3, type: 'e' },
    ];
    expect(redactText('0123456789abcdefghij', spans, { mask: '#' })).toBe('01#abcdefgh#');
    expect(redactText('nothing here', [])).toBe('nothing here');
    const jwtHeader = `Authorization: Bearer ${b64url({ alg: 'HS256' })}.${b64url({ a: 1 })}.sig123`;
    expect(redactText(jwtHeader, scanText(jwtHeader))).toBe('Authorization: Bearer [REDACTED:bearer_token]');
  });
});

describe('findSecretRefs', () => {
  it('finds secret:// references at any depth and inside longer strings, with JSON Pointer paths', () => {
    const value = {
      db: { password: 'secret://vault/prod/db#password' },
      steps: [{ env: ['plain', 'use secret://k8s/ns/name, then go.'] }],
      'a/b': 'secret://aws/sm/key~1',
      n: 5,
    };
    expect(findSecretRefs(value)).toEqual([
      { path: '/db/password', ref: 'secret://vault/prod/db#password' },
      { path: '/steps/0/env/1', ref: 'secret://k8s/ns/name' },
      { path: '/a~1b', ref: 'secret://aws/sm/key~1' },
    ]);
    expect(hasSecretRefs(value)).toBe(true);
    expect(findSecretRefs('secret://x')).toEqual([{ path: '', ref: 'secret://x' }]);
  });

  it('plain values, keys, and a bare scheme are not references', () => {
    expect(findSecretRefs({ 'secret://in-a-key': 1, note: 'the secret:// scheme', url: 'https://secret.example.com' })).toEqual([]);
    expect(hasSecretRefs(null)).toBe(false);
    const cyclic: Record<string, unknown> = { a: 'secret://v/a' };
    cyclic['self'] = cyclic;
    expect(findSecretRefs(cyclic)).toHaveLength(1);
  });
});
