import { createHash } from 'node:crypto';
import { AuditEntriesTable, ReadModel } from './read-model';

/** previous_hash of the first entry: there is nothing before it to chain to. */
export const GENESIS_HASH = '0'.repeat(64);

/** An audit entry as stored, without its own hash (what the hash covers). */
export type AuditEntryFields = Omit<AuditEntriesTable, 'hash'>;

/**
 * JSON with object keys in code-unit order and no whitespace, so that anyone can recompute a
 * hash from the stored columns (or a JSONL export) with any language's JSON library.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError('canonical JSON has no representation for a non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  throw new TypeError(`canonical JSON has no representation for a ${typeof value}`);
}

/**
 * hash = hex SHA-256 of the canonical JSON of every column but `hash` (previous_hash included),
 * keyed by column name. Integer columns are hashed as numbers whatever the driver returned
 * (PostgreSQL may hand bigints over as strings).
 */
export function hashAuditEntry(entry: AuditEntryFields): string {
  const fields = { ...entry, sequence: Number(entry.sequence), event_position: Number(entry.event_position) };
  return createHash('sha256').update(canonicalJson(fields), 'utf8').digest('hex');
}

export interface AuditVerification {
  valid: boolean;
  entries: number;
  /** Sequence of the first entry whose hash or previous_hash does not match. */
  firstBrokenEntry?: number;
}

/**
 * Checks entries given in sequence order, continuing a chain whose last hash is `previousHash`.
 * An edited entry breaks at itself (its hash); a deleted or inserted one breaks at the entry
 * after it (its previous_hash no longer names its predecessor).
 */
export function verifyChain(entries: AuditEntriesTable[], previousHash = GENESIS_HASH): { firstBrokenEntry?: number; lastHash: string } {
  let expectedPrevious = previousHash;
  for (const entry of entries) {
    const { hash, ...fields } = entry;
    if (entry.previous_hash !== expectedPrevious || hashAuditEntry(fields) !== hash) {
      return { firstBrokenEntry: Number(entry.sequence), lastHash: hash };
    }
    expectedPrevious = hash;
  }
  return { lastHash: expectedPrevious };
}

/** Recomputes the whole chain of `audit_entries` in sequence order, a page at a time. */
export async function verifyAuditTrail(db: ReadModel, pageSize = 1000): Promise<AuditVerification> {
  let count = 0;
  let after = -1;
  let previousHash = GENESIS_HASH;
  let firstBrokenEntry: number | undefined;
  for (;;) {
    const page = await db
      .selectFrom('audit_entries')
      .selectAll()
      .where('sequence', '>', after)
      .orderBy('sequence')
      .limit(pageSize)
      .execute();
    if (page.length === 0) break;
    count += page.length;
    after = Number(page[page.length - 1].sequence);
    if (firstBrokenEntry === undefined) {
      const result = verifyChain(page, previousHash);
      firstBrokenEntry = result.firstBrokenEntry;
      previousHash = result.lastHash;
    }
  }
  return firstBrokenEntry === undefined ? { valid: true, entries: count } : { valid: false, entries: count, firstBrokenEntry };
}
