import { FsObjectStore } from '../../src/engine';

/**
 * The folder store with a disk that can fill up: while `refuses(key, write)` says so, a write
 * fails with ENOSPC as a full disk's does (`write` counts every write, from 1). Tests set it.
 */
export class FullDiskStore extends FsObjectStore {
  writes = 0;
  refuses: (key: string, write: number) => boolean = () => false;

  override async put(key: string, data: Buffer): Promise<void> {
    this.writes += 1;
    if (this.refuses(key, this.writes)) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    return super.put(key, data);
  }
}
