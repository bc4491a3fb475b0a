import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { check, EngineError, Repository, restore, verifySnapshot } from '../../src/engine';
import { BlobSaver } from '../../src/engine/backup/blob-saver';
import { initRepository, saveCraftedSnapshot } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';

/**
 * Format 3 entries carry metadata a restore applies (owners, xattrs, holes, device numbers).
 * A tree with a malformed one (damage, or a crafted manifest) must be refused by the restore
 * before anything is written, and never be called healthy by check or verify.
 */
const tempDir = useTempDirs();

const PAYLOAD = Buffer.from('twelve bytes');

async function snapshotOf(repository: Repository, entry: (contentId: string) => Record<string, unknown>): Promise<string> {
  const saver = new BlobSaver(repository);
  const { id: contentId } = await saver.save('data', PAYLOAD);
  const { id: tree } = await saver.save('tree', Buffer.from(JSON.stringify({ entries: [entry(contentId)] })));
  await saver.finish();
  return saveCraftedSnapshot(repository, tree);
}

const file = (contentId: string, extra: Record<string, unknown> = {}) => ({
  name: 'f',
  mode: 0o644,
  mtimeNs: '1000000000000000000',
  type: 'file',
  size: PAYLOAD.length,
  inode: '1',
  content: [contentId],
  ...extra,
});

const MALFORMED: [string, (contentId: string) => Record<string, unknown>][] = [
  ['an unknown type', (id) => file(id, { type: 'door' })],
  ['a mode beyond 07777', (id) => file(id, { mode: 0o170644 })],
  ['an mtime that is not a number', (id) => file(id, { mtimeNs: '1e18' })],
  ['a negative owner', (id) => file(id, { uid: -1 })],
  ['an owner name with NUL', (id) => file(id, { user: 'ro\0ot' })],
  ['an xattr outside the known namespaces', (id) => file(id, { xattrs: [{ name: 'evil.x', value: 'AA==' }] })],
  [
    'an xattr listed twice',
    (id) =>
      file(id, {
        xattrs: [
          { name: 'user.a', value: 'AA==' },
          { name: 'user.a', value: 'AQ==' },
        ],
      }),
  ],
  ['holes beyond the file', (id) => file(id, { holes: [[8, 100]] })],
  [
    'overlapping holes',
    (id) =>
      file(id, {
        size: 100,
        holes: [
          [20, 10],
          [25, 10],
        ],
      }),
  ],
  ['a device number that is not a number', () => ({ name: 'd', mode: 0o600, mtimeNs: '1', type: 'chardev', rdev: '1:3' })],
];

describe('snapshots whose entries are malformed', () => {
  let repository: Repository;
  let work: string;

  beforeAll(async () => {
    work = await tempDir('malformed');
    repository = await initRepository(path.join(work, 'repo'));
  });

  it.each(MALFORMED)('refuses %s at restore, in check and in verify', async (_what, entry) => {
    const snapshotId = await snapshotOf(repository, entry);
    const target = path.join(work, `target-${snapshotId.slice(0, 8)}`);
    await expect(restore(repository, snapshotId, target)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    // Refused by the plan, before the target is even created.
    await expect(fs.stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(verifySnapshot(repository, snapshotId)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    const checked = await check(repository);
    expect(checked.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'snapshot-unrestorable', message: expect.stringContaining('malformed entry') }),
      ]),
    );
    // The damaged snapshot must not stay around for the next case's check.
    await repository.store.delete(`snapshots/${snapshotId}`);
  });

  it('verify refuses a file whose chunks do not add up to its size (a restore would write a different file)', async () => {
    const snapshotId = await snapshotOf(repository, (id) => file(id, { size: PAYLOAD.length + 5 }));
    const verification = verifySnapshot(repository, snapshotId);
    await expect(verification).rejects.toBeInstanceOf(EngineError);
    await expect(verification).rejects.toMatchObject({
      code: 'SNAPSHOT_DAMAGED',
      message: expect.stringContaining('holds 12 bytes of data where its entry says 17'),
    });
    await repository.store.delete(`snapshots/${snapshotId}`);
  });

  it('a well-formed sparse entry passes verify', async () => {
    const snapshotId = await snapshotOf(repository, (id) => file(id, { size: PAYLOAD.length + 4096, holes: [[0, 4096]] }));
    await expect(verifySnapshot(repository, snapshotId)).resolves.toMatchObject({ snapshotId });
  });
});
