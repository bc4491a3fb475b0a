import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { backup, check, CheckProblem, EngineError, restore } from '../../src/engine';
import { PACK_TRAILER_BYTES } from '../../src/engine/repository/format';
import { runCli } from '../support/cli';
import { findEntry, flipByte, initRepository, locateBlob, openRepository } from '../support/repository';
import { listRelative, useTempDirs } from '../support/temp-dirs';
import { compareTrees, compressibleText, describeTree, dir, EntryState, file, MiB, pseudoRandomBytes, writeTree } from '../support/tree';

/**
 * One flipped byte in a pack must never go unnoticed: check --read-data names the pack and the
 * files it affects, and restore refuses to write the damaged file while restoring the others.
 */
const tempDir = useTempDirs();

interface Fixture {
  work: string;
  repoPath: string;
  source: Map<string, EntryState>;
  snapshotId: string;
  /** The pack holding the second chunk of big/huge.bin, and that chunk's place in it. */
  damaged: { key: string; file: string; offset: number; length: number };
}

async function backedUpTree(label: string): Promise<Fixture> {
  const work = await tempDir(label);
  const sourcePath = path.join(work, 'source');
  const repoPath = path.join(work, 'repo');
  await writeTree(sourcePath, {
    big: dir({ 'huge.bin': file(pseudoRandomBytes('huge', 10 * MiB)) }),
    small: dir({ 'a.txt': file('alpha\n'), 'b.txt': file(pseudoRandomBytes('b', 4000)) }),
    'notes.txt': file(compressibleText('notes', 100_000)),
  });
  const repository = await initRepository(repoPath);
  const { snapshotId, snapshot } = await backup(repository, sourcePath);
  const huge = await findEntry(repository, snapshot.tree, 'big/huge.bin');
  if (huge.type !== 'file' || huge.content.length < 2) throw new Error('big/huge.bin should span several chunks');
  return {
    work,
    repoPath,
    source: await describeTree(sourcePath),
    snapshotId,
    damaged: locateBlob(repository, repoPath, huge.content[1]),
  };
}

function packProblems(errors: CheckProblem[]): CheckProblem[] {
  return errors.filter((problem) => problem.kind === 'pack-damaged');
}

function without(tree: Map<string, EntryState>, name: string): Map<string, EntryState> {
  return new Map([...tree].filter(([key]) => key !== name));
}

describe('a flipped byte inside a data blob', () => {
  let fixture: Fixture;

  beforeAll(async () => {
    fixture = await backedUpTree('damaged-blob');
    await flipByte(fixture.damaged.file, fixture.damaged.offset + Math.floor(fixture.damaged.length / 2));
  });

  it('passes the structure check, which does not read data', async () => {
    const result = await check(await openRepository(fixture.repoPath));
    expect(result.errors).toEqual([]);
    expect(result.ok).toBe(true);
  });

  it('fails check --read-data, naming the pack, the snapshot and the file', async () => {
    const result = await check(await openRepository(fixture.repoPath), { readData: true });
    expect(result.ok).toBe(false);
    expect(fixture.damaged.key).toMatch(/^data\/[0-9a-f]{2}\/[0-9a-f]{64}$/);
    const problems = packProblems(result.errors);
    expect(problems).toHaveLength(1);
    expect(problems[0].object).toBe(fixture.damaged.key);
    expect(problems[0].message).toContain(fixture.damaged.key);
    expect(problems[0].affected).toEqual([{ snapshot: fixture.snapshotId, paths: ['/big/huge.bin'] }]);
  });

  it('makes restore report the damaged file, leave nothing under its name, and restore the rest', async () => {
    const target = path.join(fixture.work, 'restored');
    const result = await restore(await openRepository(fixture.repoPath), fixture.snapshotId, target);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0].path).toBe('big/huge.bin');
    expect(result.errors[0].message).toContain(fixture.damaged.key);

    const restored = await listRelative(target);
    expect(restored).not.toContain('big/huge.bin');
    expect(restored.filter((name) => name.includes('.custodia-restore-'))).toEqual([]);
    expect(compareTrees(without(fixture.source, 'big/huge.bin'), await describeTree(target))).toEqual([]);
  });

  it('with --overwrite, leaves the previous version of the damaged file in place', async () => {
    const target = path.join(fixture.work, 'restored-over-old');
    await writeTree(target, { big: dir({ 'huge.bin': file('the previous version\n') }) });
    const result = await restore(await openRepository(fixture.repoPath), fixture.snapshotId, target, { overwrite: true });
    expect(result.errors.map((error) => error.path)).toEqual(['big/huge.bin']);
    expect(await fs.readFile(path.join(target, 'big', 'huge.bin'), 'utf8')).toBe('the previous version\n');
    expect((await listRelative(target)).filter((name) => name.includes('.custodia-restore-'))).toEqual([]);
  });

  it('makes the CLI check --read-data exit 1 and print the pack name and the file', async () => {
    const result = await runCli(['check', '--repo', fixture.repoPath, '--read-data']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(fixture.damaged.key);
    expect(result.stderr).toContain('/big/huge.bin');
    expect(result.stderr).not.toContain('    at ');
  });

  it('makes the CLI restore exit 1 and name the file it could not restore', async () => {
    const target = path.join(fixture.work, 'restored-cli');
    const result = await runCli(['restore', 'latest', '--repo', fixture.repoPath, '--target', target]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('could not restore big/huge.bin');
    expect(await listRelative(target)).toEqual(['big', 'notes.txt', 'small', 'small/a.txt', 'small/b.txt']);
  });

  it('also stops a direct blob read with BLOB_DAMAGED', async () => {
    const repository = await openRepository(fixture.repoPath);
    const { snapshot } = await repository.resolveSnapshot(fixture.snapshotId);
    const huge = await findEntry(repository, snapshot.tree, 'big/huge.bin');
    if (huge.type !== 'file') throw new Error('expected a file');
    const reading = repository.readBlob(huge.content[1]);
    await expect(reading).rejects.toBeInstanceOf(EngineError);
    await expect(reading).rejects.toMatchObject({ code: 'BLOB_DAMAGED' });
  });
});

describe('a flipped byte in the pack header', () => {
  let fixture: Fixture;

  beforeAll(async () => {
    fixture = await backedUpTree('damaged-header');
    // The sealed header sits just before the trailer (header length, magic) at the pack's end.
    const pack = await fs.readFile(fixture.damaged.file);
    const headerLength = pack.readUInt32LE(pack.length - PACK_TRAILER_BYTES);
    await flipByte(fixture.damaged.file, pack.length - PACK_TRAILER_BYTES - Math.floor(headerLength / 2));
  });

  it('passes the structure check', async () => {
    expect((await check(await openRepository(fixture.repoPath))).ok).toBe(true);
  });

  it('fails check --read-data, naming the pack and every file with data in it', async () => {
    const result = await check(await openRepository(fixture.repoPath), { readData: true });
    expect(result.ok).toBe(false);
    const problems = packProblems(result.errors);
    expect(problems).toHaveLength(1);
    expect(problems[0].object).toBe(fixture.damaged.key);
    expect(problems[0].message).toContain('header');
    const affected = problems[0].affected ?? [];
    expect(affected.map((entry) => entry.snapshot)).toEqual([fixture.snapshotId]);
    expect(affected[0].paths).toContain('/big/huge.bin');
  });

  it('makes the CLI check --read-data exit 1 and print the pack name', async () => {
    const result = await runCli(['check', '--repo', fixture.repoPath, '--read-data']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(fixture.damaged.key);
  });

  it('does not stop restore: each blob is authenticated on its own and is intact', async () => {
    const target = path.join(fixture.work, 'restored');
    const result = await restore(await openRepository(fixture.repoPath), fixture.snapshotId, target);
    expect(result.errors).toEqual([]);
    expect(compareTrees(fixture.source, await describeTree(target))).toEqual([]);
  });

  it('survives "index rebuild": the pack is reported, and its intact blobs stay restorable', async () => {
    const rebuilt = await runCli(['index', 'rebuild', '--repo', fixture.repoPath]);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stderr).toContain(`pack ${fixture.damaged.key} is unreadable`);
    const target = path.join(fixture.work, 'restored-after-rebuild');
    const result = await restore(await openRepository(fixture.repoPath), fixture.snapshotId, target);
    expect(result.errors).toEqual([]);
    expect(compareTrees(fixture.source, await describeTree(target))).toEqual([]);
  });
});
