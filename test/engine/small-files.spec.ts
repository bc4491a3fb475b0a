import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { looksIncompressible } from '../../src/engine/compression';
import { FsObjectStore } from '../../src/engine/storage/fs-object-store';
import { ObjectNotFoundError } from '../../src/engine/storage/object-store';
import { readSmallFile } from '../../src/engine/backup/small-file';
import { useTempDirs } from '../support/temp-dirs';
import { compressibleText, pseudoRandomBytes } from '../support/tree';

describe('reading small files in one go', () => {
  const tempDir = useTempDirs();
  const buffer = Buffer.alloc(64 * 1024);

  it('returns the content of a file as large as the scan found, or smaller', async () => {
    const dir = await tempDir('small-files');
    const file = path.join(dir, 'a.txt');
    await fs.writeFile(file, 'hello');
    expect(readSmallFile(file, buffer, 5)?.data.toString()).toBe('hello');
    expect(readSmallFile(file, buffer, 10)?.data.toString()).toBe('hello');
    await fs.writeFile(file, '');
    expect(readSmallFile(file, buffer, 0)?.data).toEqual(Buffer.alloc(0));
  });

  it('returns the stats of the file as read, so a change during the read is seen', async () => {
    const dir = await tempDir('small-files');
    const file = path.join(dir, 'a.txt');
    await fs.writeFile(file, 'hello');
    const read = readSmallFile(file, buffer, 5);
    expect(read?.after.size).toBe(5n);
    expect(read?.after.mtimeNs).toBe((await fs.stat(file, { bigint: true })).mtimeNs);
  });

  it('returns null for a file that grew since the scan, so the caller streams it', async () => {
    const dir = await tempDir('small-files');
    const file = path.join(dir, 'grown.txt');
    await fs.writeFile(file, 'x'.repeat(100));
    expect(readSmallFile(file, buffer, 99)).toBeNull();
  });

  it('does not read through a file swapped for a symlink', async () => {
    const dir = await tempDir('small-files');
    await fs.writeFile(path.join(dir, 'secret'), 'secret');
    await fs.symlink(path.join(dir, 'secret'), path.join(dir, 'link'));
    expect(() => readSmallFile(path.join(dir, 'link'), buffer, 6)).toThrow(expect.objectContaining({ code: 'ELOOP' }));
  });
});

describe('spotting incompressible data before compressing it', () => {
  it('tells random bytes from text, and leaves small blobs to the compressor', () => {
    expect(looksIncompressible(pseudoRandomBytes('entropy', 256 * 1024))).toBe(true);
    expect(looksIncompressible(compressibleText('entropy', 256 * 1024))).toBe(false);
    expect(looksIncompressible(Buffer.alloc(256 * 1024))).toBe(false);
    expect(looksIncompressible(pseudoRandomBytes('entropy-small', 1000))).toBe(false);
    // Half text, half random: still worth compressing.
    const mixed = Buffer.concat([compressibleText('mixed', 128 * 1024), pseudoRandomBytes('mixed', 128 * 1024)]);
    expect(looksIncompressible(mixed)).toBe(false);
  });
});

describe('range reads from a folder store keep pack files open, but never read a stale one', () => {
  const tempDir = useTempDirs();

  it('notices a pack deleted or replaced since its last read', async () => {
    const store = new FsObjectStore(await tempDir('ranges'));
    await store.put('data/ab/pack', Buffer.from('0123456789'));
    expect((await store.getRange('data/ab/pack', 2, 3)).toString()).toBe('234');
    expect((await store.getRange('data/ab/pack', 7, 10)).toString()).toBe('789');
    await store.delete('data/ab/pack');
    await expect(store.getRange('data/ab/pack', 0, 1)).rejects.toBeInstanceOf(ObjectNotFoundError);
    await store.put('data/ab/pack', Buffer.from('abcdefghij'));
    expect((await store.getRange('data/ab/pack', 2, 3)).toString()).toBe('cde');
  });

  it('keeps working past its limit of open files', async () => {
    const store = new FsObjectStore(await tempDir('ranges'));
    for (let i = 0; i < 20; i++) await store.put(`data/${i}`, Buffer.from(`pack ${i}`));
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 20; i++) expect((await store.getRange(`data/${i}`, 5, 2)).toString()).toBe(String(i));
    }
  });
});
