import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Authenticated encryption of every repository object.
 *
 * Layout: version(1) | salt(16) | nonce(12) | ciphertext | tag(16).
 *
 * Each object is encrypted under its own subkey, HKDF(key, salt). AES-256-GCM's random-nonce
 * limit (about 2^32 messages per key) therefore applies per object rather than per repository,
 * and a nonce can only repeat if a 128-bit salt and a 96-bit nonce both repeat. The associated
 * data binds the ciphertext to its purpose (a pack header cannot be passed off as a snapshot).
 */
const VERSION = 1;
const SALT_BYTES = 16;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + SALT_BYTES + NONCE_BYTES;
export const AEAD_OVERHEAD = HEADER_BYTES + TAG_BYTES;

export class DecryptionError extends Error {
  constructor(message = 'authentication failed') {
    super(message);
    this.name = 'DecryptionError';
  }
}

function subkey(key: Buffer, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', key, salt, 'custodia-aead-v1', 32));
}

export function seal(key: Buffer, plaintext: Buffer, associatedData: string): Buffer {
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', subkey(key, salt), nonce);
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const body = cipher.update(plaintext);
  const final = cipher.final();
  return Buffer.concat([Buffer.of(VERSION), salt, nonce, body, final, cipher.getAuthTag()]);
}

export function open(key: Buffer, sealed: Buffer, associatedData: string): Buffer {
  if (sealed.length < AEAD_OVERHEAD || sealed[0] !== VERSION) {
    throw new DecryptionError('not an encrypted Custodia object (bad header or truncated)');
  }
  const salt = sealed.subarray(1, 1 + SALT_BYTES);
  const nonce = sealed.subarray(1 + SALT_BYTES, HEADER_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', subkey(key, salt), nonce);
  decipher.setAAD(Buffer.from(associatedData, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    const body = decipher.update(sealed.subarray(HEADER_BYTES, sealed.length - TAG_BYTES));
    return Buffer.concat([body, decipher.final()]);
  } catch {
    throw new DecryptionError();
  }
}
