import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InvalidError } from '@cordum/core';
import { parseEd25519PublicKey, verifyBundleSignature } from './index.js';

describe('verifyBundleSignature (Ed25519)', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  // The raw 32 key bytes are the tail of the DER SubjectPublicKeyInfo.
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const keyB64 = raw.toString('base64');
  const keyHex = raw.toString('hex');
  const content = 'version: v1\nrules:\n  - {id: a, decision: deny}\n';
  const signature = sign(null, Buffer.from(content), privateKey);
  const sigB64 = signature.toString('base64');

  it('accepts a valid signature with the key as base64, hex or PEM, and the content as string or bytes', () => {
    expect(verifyBundleSignature(content, sigB64, keyB64)).toBe(true);
    expect(verifyBundleSignature(content, `${sigB64}\n`, keyHex)).toBe(true);
    expect(verifyBundleSignature(new TextEncoder().encode(content), signature.toString('hex'), keyB64)).toBe(true);
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(verifyBundleSignature(content, sigB64, pem)).toBe(true);
  });

  it('rejects altered content, another key, and malformed signatures', () => {
    expect(verifyBundleSignature(`${content} `, sigB64, keyB64)).toBe(false);
    const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    expect(verifyBundleSignature(content, sigB64, other.toString('base64'))).toBe(false);
    expect(verifyBundleSignature(content, '', keyB64)).toBe(false);
    expect(verifyBundleSignature(content, 'not base64!', keyB64)).toBe(false);
    expect(verifyBundleSignature(content, Buffer.alloc(64).toString('base64'), keyB64)).toBe(false);
    expect(verifyBundleSignature(content, sigB64.slice(0, 40), keyB64)).toBe(false);
  });

  it('throws config_invalid for a key that is not 32 Ed25519 bytes', () => {
    expect(() => verifyBundleSignature(content, sigB64, 'abcd')).toThrow(InvalidError);
    // A short key must throw: a try/catch around it alone would pass if nothing were thrown.
    expect(() => parseEd25519PublicKey(Buffer.alloc(31).toString('base64'))).toThrow(
      expect.objectContaining({ code: 'config_invalid' }),
    );
    expect(() => parseEd25519PublicKey(Buffer.alloc(33).toString('hex'))).toThrow(InvalidError);
    const ecPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(() => parseEd25519PublicKey(ecPem)).toThrow(/not Ed25519/);
  });
});
