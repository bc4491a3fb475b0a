import { createHmac } from 'node:crypto';
import { EngineError } from '../errors';
import { PSEUDONYM_PATTERN } from '../repository/format';

/** Turns a data subject's external id (e.g. an e-mail address) into the pseudonym the engine stores. */
export type Pseudonymiser = (externalId: string) => string;

/** Shorter secrets could be brute-forced over guessable external ids such as e-mail addresses. */
export const MIN_PSEUDONYM_SECRET_LENGTH = 16;

/**
 * Pseudonymisation by HMAC-SHA256 under a secret the operator keeps outside the repository:
 * the pseudonym is the hex digest of the external id (Unicode NFC, so a name typed on the
 * command line matches the same name read from the file system). Without the secret, a
 * pseudonym cannot be linked back to a person, not even by trying every known e-mail address.
 */
export function hmacPseudonymiser(secret: string | Buffer): Pseudonymiser {
  const key = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  if (key.length < MIN_PSEUDONYM_SECRET_LENGTH) {
    throw new EngineError('INVALID_ARGUMENT', `the pseudonym secret must be at least ${MIN_PSEUDONYM_SECRET_LENGTH} bytes long`);
  }
  return (externalId) => createHmac('sha256', key).update(externalId.normalize('NFC'), 'utf8').digest('hex');
}

/** A pseudonym must be safe inside object keys and scope names. */
export function assertPseudonym(pseudonym: unknown): asserts pseudonym is string {
  if (typeof pseudonym !== 'string' || !PSEUDONYM_PATTERN.test(pseudonym)) {
    throw new EngineError('INVALID_ARGUMENT', 'a subject pseudonym must be 1 to 128 characters of A-Z, a-z, 0-9, "_" and "-"');
  }
}
