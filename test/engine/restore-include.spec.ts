import * as path from 'node:path';
import { backup, restore } from '../../src/engine';
import { initRepository } from '../support/repository';
import { exists, useTempDirs } from '../support/temp-dirs';
import { dir, file, writeTree } from '../support/tree';

describe('restore --include', () => {
  const tempDir = useTempDirs();

  it('refuses an include that names nothing in the snapshot, before creating the target', async () => {
    const source = await tempDir('source');
    await writeTree(source, { docs: dir({ 'a.txt': file('a') }), 'b.txt': file('b') });
    const repository = await initRepository(path.join(await tempDir('repo'), 'repo'));
    const { snapshotId } = await backup(repository, source);
    const target = path.join(await tempDir('out'), 'target');

    await expect(restore(repository, snapshotId, target, { include: ['docs', 'dcos/a.txt'] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('dcos/a.txt'),
    });
    expect(await exists(target)).toBe(false);
    await expect(restore(repository, snapshotId, target, { include: ['../b.txt'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await exists(target)).toBe(false);

    const result = await restore(repository, snapshotId, target, { include: ['docs/a.txt'] });
    expect(result.files).toBe(1);
  });
});
