import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { backup, check, CheckResult, inSlice } from '../../src/engine';
import { PACK_TRAILER_BYTES } from '../../src/engine/repository/format';
import { runCli, runCliOk } from '../support/cli';
import { flipByte, initRepository, listPackKeys, openRepository } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';
import { dir, file, pseudoRandomBytes, TreeSpec, writeTree } from '../support/tree';
/**
 * check --read-data-subset n/m reads one slice of the packs, so verification can be spread over
 * several runs; the m slices together must read every pack exactly once.
 */
describe('check --read-data-subset', () => {
  const tempDir = useTempDirs();
  let repoPath: string;
  let packKeys: string[];

  async function checkSlices(m: number): Promise<CheckResult[]> {
    const results: CheckResult[] = [];
    for (let n = 1; n <= m; n++) results.push(await check(await openRepository(repoPath), { readDataSubset: { n, m } }));
    return results;
  }

  beforeAll(async () => {
    const work = await tempDir('subset');
    const source = path.join(work, 'source');
    repoPath = path.join(work, 'repo');
    // 48 files of 80 KiB, each one chunk, with 64 KiB packs: a pack per file, plus tree packs.
    const folders: TreeSpec = {};
    for (let d = 0; d < 4; d++) {
      const files: TreeSpec = {};
      for (let f = 0; f < 12; f++) files[`file-${f}.bin`] = file(pseudoRandomBytes(`subset ${d} ${f}`, 80 * 1024));
      folders[`folder-${d}`] = dir(files);
    }
    await writeTree(source, folders);
    await backup(await initRepository(repoPath), source, { packTargetSize: 65536 });
    packKeys = await listPackKeys(repoPath);
    expect(packKeys.length).toBeGreaterThanOrEqual(48);
  });

  it('reads every pack exactly once over slices 1/3, 2/3 and 3/3', async () => {
    const slices = await checkSlices(3);
    for (const result of slices) {
      expect(result.ok).toBe(true);
      expect(result.packs).toBe(packKeys.length);
      expect(result.packsRead).toBeGreaterThan(0);
    }
    expect(slices.reduce((sum, result) => sum + result.packsRead, 0)).toBe(packKeys.length);
    // The whole check reads each pack once too, and as many blobs as the slices together.
    const whole = await check(await openRepository(repoPath), { readData: true });
    expect(whole.packsRead).toBe(packKeys.length);
    expect(slices.reduce((sum, result) => sum + result.blobsRead, 0)).toBe(whole.blobsRead);
  });

  it('slices the same way from the CLI', async () => {
    let total = 0;
    for (let n = 1; n <= 3; n++) {
      const { stdout } = await runCliOk(['check', '--repo', repoPath, '--read-data-subset', `${n}/3`, '--json']);
      const summary = JSON.parse(stdout) as CheckResult;
      expect(summary.ok).toBe(true);
      expect(summary.packsRead).toBe(packKeys.filter((key) => inSlice(key.split('/')[2], n, 3)).length);
      total += summary.packsRead;
    }
    expect(total).toBe(packKeys.length);
    const invalid = await runCli(['check', '--repo', repoPath, '--read-data-subset', '4/3']);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).not.toContain('    at ');
  });

  it('with every pack damaged, each slice reports exactly the packs it read, and together all of them once', async () => {
    for (const key of packKeys) {
      // A byte inside the pack header: every pack is damaged, while every tree stays readable.
      const packFile = path.join(repoPath, ...key.split('/'));
      const size = (await fs.stat(packFile)).size;
      await flipByte(packFile, size - PACK_TRAILER_BYTES - 20);
    }
    const reported: string[] = [];
    for (const result of await checkSlices(3)) {
      const damaged = result.errors.filter((problem) => problem.kind === 'pack-damaged').map((problem) => problem.object);
      expect(damaged).toHaveLength(result.packsRead);
      reported.push(...damaged);
    }
    expect(reported.sort()).toEqual([...packKeys].sort());
  });
});
