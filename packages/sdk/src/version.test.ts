import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SDK_VERSION, SDK_VERSION_STRING } from './version.js';

describe('SDK_VERSION', () => {
  it('matches package.json (the handshake must announce the release actually running)', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(SDK_VERSION).toBe(pkg.version);
    expect(SDK_VERSION_STRING).toBe(`cordum-ts/${pkg.version}`);
  });
});
