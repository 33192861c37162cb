import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { InvalidError } from '@cordum/core';

// Ed25519 over the exact bytes of a bundle file (no canonicalisation: what was signed is what is loaded).
// Keys and signatures are accepted the way upstream's SAFETY_POLICY_PUBLIC_KEY / SAFETY_POLICY_SIGNATURE
// are written: raw key bytes as hex or base64, signature as base64 (hex also accepted).

// DER SubjectPublicKeyInfo prefix for an Ed25519 key; the 32 raw key bytes follow it.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function decodeFlexible(text: string): Buffer | null {
  const s = text.trim();
  if (s === '') return null;
  if (/^[0-9a-fA-F]+$/.test(s) && s.length % 2 === 0) return Buffer.from(s, 'hex');
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(s)) return Buffer.from(s.replaceAll('-', '+').replaceAll('_', '/'), 'base64');
  return null;
}

/** The Ed25519 public key from raw 32 bytes (hex or base64) or a PEM. Throws InvalidError (config_invalid). */
export function parseEd25519PublicKey(publicKey: string): KeyObject {
  const text = publicKey.trim();
  if (text.startsWith('-----BEGIN')) {
    const key = createPublicKey(text);
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new InvalidError(`policy public key is ${key.asymmetricKeyType ?? 'unknown'}, not Ed25519`, { code: 'config_invalid' });
    }
    return key;
  }
  const raw = decodeFlexible(text);
  if (raw === null || raw.length !== 32) {
    throw new InvalidError('policy public key must be 32 raw Ed25519 bytes as hex or base64 (or a PEM)', {
      code: 'config_invalid',
    });
  }
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/**
 * True when `signature` (base64 or hex of 64 bytes; surrounding whitespace, as in a .sig file, is ignored) is a
 * valid Ed25519 signature of `content` under `publicKey`. A malformed signature is simply false; a malformed
 * key throws, because that is a configuration mistake rather than a bad bundle.
 */
export function verifyBundleSignature(content: string | Uint8Array, signature: string, publicKey: string): boolean {
  const key = parseEd25519PublicKey(publicKey);
  const sig = decodeFlexible(signature);
  if (sig === null || sig.length !== 64) return false;
  const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  return verify(null, data, key, sig);
}
