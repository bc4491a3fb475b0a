import { createHash } from 'node:crypto';
import {
  AuditEntryFields,
  canonicalJson,
  GENESIS_HASH,
  hashAuditEntry,
  verifyAuditTrail,
  verifyChain,
} from '../../src/application/projections/audit-chain';
import { AuditTrailProjection } from '../../src/application/projections/audit-trail.projection';
import { applyWithCheckpoint } from '../../src/application/projections/projection';
import { AuditEntriesTable, ReadModel } from '../../src/application/projections/read-model';
import { RecordedEvent } from '../../src/application/ports/event-store';
import { openSqliteReadModel } from '../../src/infrastructure/persistence/sqlite-read-model';

function fields(sequence: number, actor: string, previousHash: string): AuditEntryFields {
  return {
    sequence,
    event_id: `event-${sequence}`,
    event_position: sequence * 10,
    occurred_at: `2025-01-01T00:00:0${sequence}.000Z`,
    actor,
    role: actor.startsWith('system:') ? 'system' : 'operator',
    action: 'backup.requested',
    target_type: 'backup',
    target_id: `backup-${sequence}`,
    purpose: null,
    outcome: 'accepted',
    details: null,
    correlation_id: `correlation-${sequence}`,
    causation_id: null,
    subject_pseudonym: null,
    previous_hash: previousHash,
  };
}

/** A hand-made chain of `actors.length` entries. */
function chain(...actors: string[]): AuditEntriesTable[] {
  const entries: AuditEntriesTable[] = [];
  for (const [index, actor] of actors.entries()) {
    const entry = fields(index + 1, actor, entries.at(-1)?.hash ?? GENESIS_HASH);
    entries.push({ ...entry, hash: hashAuditEntry(entry) });
  }
  return entries;
}

describe('audit chain', () => {
  it('hashes the canonical JSON of the columns: sorted keys, no whitespace, previous_hash included', () => {
    expect(canonicalJson({ b: 1, a: [null, 'x', { d: true, c: 'é' }], e: undefined })).toBe('{"a":[null,"x",{"c":"é","d":true}],"b":1}');
    const entry = fields(1, 'alice', GENESIS_HASH);
    const written =
      '{"action":"backup.requested","actor":"alice","causation_id":null,"correlation_id":"correlation-1","details":null,' +
      '"event_id":"event-1","event_position":10,"occurred_at":"2025-01-01T00:00:01.000Z","outcome":"accepted",' +
      `"previous_hash":"${GENESIS_HASH}","purpose":null,"role":"operator","sequence":1,"subject_pseudonym":null,` +
      '"target_id":"backup-1","target_type":"backup"}';
    expect(hashAuditEntry(entry)).toBe(createHash('sha256').update(written).digest('hex'));
    // Integers hash the same whether a driver returns them as numbers or as strings.
    expect(hashAuditEntry({ ...entry, sequence: '1' as unknown as number })).toBe(hashAuditEntry(entry));
  });

  it('accepts an intact chain and names the first entry that breaks it', () => {
    const entries = chain('alice', 'system:jobs', 'bob', 'system:jobs', 'alice');
    expect(verifyChain(entries)).toEqual({ lastHash: entries[4].hash });
    expect(verifyChain([])).toEqual({ lastHash: GENESIS_HASH });

    const edited = entries.map((entry) => (entry.sequence === 3 ? { ...entry, actor: 'mallory' } : entry));
    expect(verifyChain(edited).firstBrokenEntry).toBe(3);
    // Re-hashing the edited entry only moves the break to the next one.
    const third = hashAuditEntry(fields(3, 'mallory', entries[1].hash));
    const rehashed = edited.map((entry) => (entry.sequence === 3 ? { ...entry, hash: third } : entry));
    expect(verifyChain(rehashed).firstBrokenEntry).toBe(4);

    expect(verifyChain(entries.filter((entry) => entry.sequence !== 2)).firstBrokenEntry).toBe(3);
    expect(verifyChain([entries[0], entries[2], entries[1], entries[3]]).firstBrokenEntry).toBe(3);
    expect(verifyChain(entries.slice(1)).firstBrokenEntry).toBe(2);
    expect(verifyChain(entries.map((entry) => ({ ...entry, previous_hash: entry.previous_hash.toUpperCase() }))).firstBrokenEntry).toBe(2);
  });
});

describe('audit trail in the read model', () => {
  let db: ReadModel;

  beforeEach(async () => {
    db = await openSqliteReadModel(':memory:');
  });

  afterEach(async () => {
    await db.destroy();
  });

  it('verifies page by page and counts every entry', async () => {
    expect(await verifyAuditTrail(db)).toEqual({ valid: true, entries: 0 });
    const entries = chain('a', 'b', 'c', 'd', 'e');
    await db.insertInto('audit_entries').values(entries).execute();
    expect(await verifyAuditTrail(db, 2)).toEqual({ valid: true, entries: 5 });
    await db.updateTable('audit_entries').set({ outcome: 'failed' }).where('sequence', '=', 4).execute();
    expect(await verifyAuditTrail(db, 2)).toEqual({ valid: false, entries: 5, firstBrokenEntry: 4 });
  });

  it('appends one entry per audited event, chained, without paths or free text, and not twice for a redelivered batch', async () => {
    const projection = new AuditTrailProjection();
    let position = 0;
    const event = (type: string, data: Record<string, unknown>, actor = 'alice', extra: Record<string, unknown> = {}): RecordedEvent => {
      position++;
      return {
        id: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`,
        type,
        schemaVersion: 1,
        occurredAt: `2025-01-01T00:00:${String(position).padStart(2, '0')}.000Z`,
        data: { ...data, at: 'ignored' },
        metadata: { correlationId: 'c-1', causationId: null, actor, ...extra },
        stream: 'any',
        revision: 0,
        position,
      };
    };
    const batch = [
      event('SourceRegistered', { sourceId: 's-1', name: 'Jane Doe', path: '/home/jane' }),
      event('SourceUpdated', { sourceId: 's-1', path: '/home/jane2' }, 'bob', { role: 'dpo' }),
      event('BackupRequested', { backupId: 'b-1', sourceId: 's-1', backupType: 'full' }),
      event('BackupStarted', { backupId: 'b-1', jobId: 'j', attempt: 1 }, 'system:jobs'),
      event(
        'BackupFailed',
        { backupId: 'b-1', jobId: 'j', code: 'EACCES', reason: 'cannot read /home/jane/x', retryable: false },
        'system:jobs',
      ),
      event('RestoreRequested', {
        restoreId: 'r-1',
        backupId: 'b-1',
        sourceId: 's-1',
        snapshotId: 'snap',
        target: '/restores/jane',
        include: ['jane/cv.pdf', 'jane/id.png'],
        purpose: 'Art. 15 request',
      }),
      event('BackupCancelled', { backupId: 'b-1', reason: 'Jane asked' }),
    ];
    await applyWithCheckpoint(db, projection, batch);
    await applyWithCheckpoint(db, projection, batch); // redelivered: skipped by the checkpoint

    const rows = await db.selectFrom('audit_entries').selectAll().orderBy('sequence').execute();
    expect(rows.map((row) => [row.sequence, row.action, row.role, row.target_type, row.target_id, row.outcome])).toEqual([
      [1, 'source.registered', 'operator', 'source', 's-1', 'completed'],
      [2, 'source.updated', 'dpo', 'source', 's-1', 'completed'],
      [3, 'backup.requested', 'operator', 'backup', 'b-1', 'accepted'],
      [4, 'backup.failed', 'system', 'backup', 'b-1', 'failed'],
      [5, 'restore.requested', 'operator', 'restore', 'r-1', 'accepted'],
      [6, 'backup.cancelled', 'operator', 'backup', 'b-1', 'completed'],
    ]);
    expect(rows[1].details).toBe('{"fields":["path"]}');
    expect(rows[3].details).toBe('{"code":"EACCES","retryable":false}');
    expect(rows[4]).toMatchObject({
      purpose: 'Art. 15 request',
      details: '{"backupId":"b-1","includeCount":2,"snapshotId":"snap","sourceId":"s-1"}',
    });
    expect(rows[0].previous_hash).toBe(GENESIS_HASH);
    const text = JSON.stringify(rows);
    for (const personal of ['Jane Doe', '/home', '/restores', 'cv.pdf', 'Jane asked']) expect(text).not.toContain(personal);
    expect(await verifyAuditTrail(db)).toEqual({ valid: true, entries: 6 });

    // A later batch continues the chain from the last stored hash.
    await applyWithCheckpoint(db, projection, [event('SourceRemoved', { sourceId: 's-1' })]);
    const last = await db.selectFrom('audit_entries').selectAll().where('sequence', '=', 7).executeTakeFirstOrThrow();
    expect(last.previous_hash).toBe(rows[5].hash);
    expect(await verifyAuditTrail(db)).toEqual({ valid: true, entries: 7 });
  });
});
