import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FsObjectStore } from '../../src/engine/storage/fs-object-store';
import { objectStoreContract } from '../contract/object-store.contract';
import { removeTree, useTempDirs } from '../support/temp-dirs';

objectStoreContract('FsObjectStore', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-fs-store-'));
  return { store: new FsObjectStore(dir), cleanup: () => removeTree(dir) };
});

describe('FsObjectStore', () => {
  const tempDir = useTempDirs();

  it('lists the temporary sibling of an interrupted write as a leftover, never as an object', async () => {
    const root = await tempDir('fs-store-leftovers');
    const store = new FsObjectStore(root);
    await store.put('data/aa/whole', Buffer.from('x'));
    await fs.writeFile(path.join(root, 'data', 'aa', 'half.tmp-0123456789ab'), 'half written');

    expect(await store.list('data/')).toEqual([{ key: 'data/aa/whole', size: 1 }]);
    expect(await store.listLeftovers()).toEqual(['data/aa/half.tmp-0123456789ab']);
  });

  it('stores objects 0600 in folders 0700, and a missing folder does not exist', async () => {
    const root = path.join(await tempDir('fs-store-modes'), 'repository');
    const store = new FsObjectStore(root);
    expect(await store.exists()).toBe(false);
    expect(await store.list('')).toEqual([]);
    await store.put('data/aa/object', Buffer.from('x'));

    expect(await store.exists()).toBe(true);
    expect((await fs.stat(path.join(root, 'data', 'aa', 'object'))).mode & 0o777).toBe(0o600);
    expect((await fs.stat(path.join(root, 'data', 'aa'))).mode & 0o777).toBe(0o700);
  });
});
