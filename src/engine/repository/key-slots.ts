import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DecryptionError, open, seal } from '../crypto/aead';
import { deriveKey, KdfParams, newKdfParams } from '../crypto/kdf';
import { MasterKey } from '../crypto/master-key';
import { EngineError } from '../errors';
import { ObjectStore } from '../storage/object-store';
import { AAD, FORMAT_VERSION, Keys, KeySlot } from './format';
import { listRepositoryObjects } from './object-names';

/**
 * Key slots: each wraps the same master key under a different passphrase, so a passphrase can
 * be added or removed without re-encrypting any data.
 */
export async function createKeySlot(
  store: ObjectStore,
  master: MasterKey,
  passphrase: string,
  kdfCost?: { N: number; r: number; p: number },
): Promise<KeySlot> {
  assertPassphrase(passphrase);
  const kdf: KdfParams = newKdfParams(kdfCost);
  const wrappingKey = await deriveKey(passphrase, kdf);
  const slot: KeySlot = {
    version: FORMAT_VERSION,
    id: randomBytes(16).toString('hex'),
    createdAt: new Date().toISOString(),
    hostname: hostname(),
    kdf,
    wrappedMasterKey: seal(wrappingKey, master.secret, AAD.keySlot).toString('base64'),
  };
  await store.put(Keys.key(slot.id), Buffer.from(JSON.stringify(slot)));
  return slot;
}

export async function listKeySlots(store: ObjectStore): Promise<KeySlot[]> {
  const slots: KeySlot[] = [];
  for (const object of await listRepositoryObjects(store, 'keys/')) {
    const raw = await store.get(object.key);
    try {
      slots.push(JSON.parse(raw.toString('utf8')) as KeySlot);
    } catch {
      throw new EngineError('REPO_DAMAGED', `key slot ${object.key} in ${store.location} is not valid JSON`);
    }
  }
  return slots;
}

/** Tries every slot; the passphrase opens the repository if it unwraps any of them. */
export async function unlockMasterKey(store: ObjectStore, passphrase: string): Promise<{ master: MasterKey; slot: KeySlot }> {
  const slots = await listKeySlots(store);
  if (slots.length === 0) {
    throw new EngineError('REPO_DAMAGED', `repository at ${store.location} has no key slots`);
  }
  for (const slot of slots) {
    const wrappingKey = await deriveKey(passphrase, slot.kdf);
    try {
      const secret = open(wrappingKey, Buffer.from(slot.wrappedMasterKey, 'base64'), AAD.keySlot);
      return { master: new MasterKey(secret), slot };
    } catch (error) {
      if (!(error instanceof DecryptionError)) throw error;
    }
  }
  throw new EngineError('WRONG_PASSPHRASE', `wrong passphrase for repository at ${store.location}`);
}

/**
 * Removes the slot named by its id or a unique prefix of at least 4 characters (as for
 * snapshots): an empty or ambiguous prefix must not pick some slot and destroy a passphrase.
 */
export async function removeKeySlot(store: ObjectStore, id: string, inUse: string): Promise<void> {
  const slots = await listKeySlots(store);
  const matches = slots.filter((candidate) => candidate.id === id || (id.length >= 4 && candidate.id.startsWith(id)));
  const slot = matches.find((candidate) => candidate.id === id) ?? (matches.length === 1 ? matches[0] : undefined);
  if (!slot) {
    const why = matches.length > 1 ? `several key slots match "${id}"` : `no key slot "${id}"`;
    throw new EngineError('KEY_NOT_FOUND', `${why} in ${store.location}`);
  }
  if (slot.id === inUse) {
    throw new EngineError('LAST_KEY', `key slot ${slot.id} is the one in use; open the repository with another passphrase to remove it`);
  }
  if (slots.length === 1) throw new EngineError('LAST_KEY', 'refusing to remove the last key slot');
  await store.delete(Keys.key(slot.id));
}

function assertPassphrase(passphrase: string): void {
  if (passphrase.length === 0) throw new EngineError('PASSPHRASE_MISSING', 'the passphrase is empty');
}
