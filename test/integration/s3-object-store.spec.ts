import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import {
  backup,
  check,
  EngineError,
  isEngineError,
  objectStoreFromLocation,
  parseS3Location,
  Repository,
  restore,
  S3ObjectStore,
} from '../../src/engine';
import { objectStoreContract } from '../contract/object-store.contract';
import { errorOf } from '../support/error-of';
import { expectCliError, runCli, runCliOk } from '../support/cli';
import { FAST_KDF } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';
import { compareTrees, describeTree, file, MiB, pseudoRandomBytes, sha256, standardTree, writeTree } from '../support/tree';
import { countCommands, s3Client, s3Env, s3Settings, s3Store, useBuckets } from './support/s3';

/**
 * The S3 object store against a real S3 server: the S3Proxy that `bash scripts/services.sh up`
 * starts (S3_ENDPOINT, S3_ACCESS_KEY_ID... override it). Every test works in a bucket of its own.
 */
const PASSPHRASE = 'correct horse battery staple';
/** Buckets of the contract's tests (a bucket per test), removed after the file. */
const contractBuckets = useBuckets();

function expectEngineError(error: unknown, code: string): EngineError {
  expect(error).toBeInstanceOf(EngineError);
  const engineError = error as EngineError;
  expect(engineError.code).toBe(code);
  expect(engineError.message).not.toContain('\n');
  return engineError;
}

objectStoreContract('S3ObjectStore against S3Proxy', async () => {
  const bucket = await contractBuckets.create('contract');
  const store = s3Store(bucket);
  return { store, cleanup: async () => store.destroy() };
});

describe('S3ObjectStore against S3Proxy', () => {
  const buckets = useBuckets();
  const clients: S3Client[] = [];
  afterAll(() => clients.forEach((client) => client.destroy()));

  /** A store with a client whose commands are counted. */
  function countedStore(bucket: string, options: { prefix?: string; pageSize?: number } = {}) {
    const client = s3Client();
    clients.push(client);
    const counts = countCommands(client);
    return { store: s3Store(bucket, { ...options, client }), counts };
  }

  it('getRange sends ranged GETs, not whole-object reads, and none for an empty range', async () => {
    // What each range returns is the contract's; here, what goes over the wire.
    const bucket = await buckets.create('range');
    const { store, counts } = countedStore(bucket);
    const data = pseudoRandomBytes('range', 50_000);
    await store.put('data/00/pack', data);

    await store.getRange('data/00/pack', 0, 100);
    await store.getRange('data/00/pack', 12_345, 6_789);
    await store.getRange('data/00/pack', 49_990, 10);
    await store.getRange('data/00/pack', 49_990, 100);
    await store.getRange('data/00/pack', 50_000, 10);
    await store.getRange('data/00/pack', 10, 0);
    // Five requests for the five non-empty ranges.
    expect(counts.get('GetObjectCommand')).toBe(5);
  });

  it('list follows ListObjectsV2 continuation tokens over many pages, and only returns keys under the prefix', async () => {
    const bucket = await buckets.create('pages');
    const { store, counts } = countedStore(bucket, { pageSize: 7 });
    const keys = Array.from({ length: 45 }, (_, i) => `data/${(i % 5).toString(16).padStart(2, '0')}/pack-${String(i).padStart(3, '0')}`);
    await Promise.all(keys.map((key, i) => store.put(key, Buffer.alloc(i, 1))));
    await store.put('index/one', Buffer.from('i'));
    await store.put('database', Buffer.from('not under data/'));

    const listed = await store.list('data/');
    expect(listed.map((object) => object.key)).toEqual([...keys].sort());
    expect(listed.find((object) => object.key === 'data/04/pack-044')?.size).toBe(44);
    // 45 keys at 7 a page: 7 pages, each after the first asked for with a continuation token.
    expect(counts.get('ListObjectsV2Command')).toBe(7);
    expect((await store.list('index/')).map((object) => object.key)).toEqual(['index/one']);
    expect(await store.list('snapshots/')).toEqual([]);
    expect(await store.list('')).toHaveLength(47);
  });

  it('lists more than 1000 objects (the server-side page limit)', async () => {
    const bucket = await buckets.create('thousand');
    const { store, counts } = countedStore(bucket);
    const keys = Array.from({ length: 1003 }, (_, i) => `index/${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 25) {
      await Promise.all(keys.slice(i, i + 25).map((key) => store.put(key, Buffer.from(key))));
    }
    const listed = await store.list('index/');
    expect(listed).toHaveLength(1003);
    expect(listed.map((object) => object.key)).toEqual(keys);
    expect(counts.get('ListObjectsV2Command')).toBe(2);
  });

  it('keeps each store under its prefix, so one bucket holds several repositories', async () => {
    const bucket = await buckets.create('prefix');
    const a = s3Store(bucket, { prefix: 'team/repo-a' });
    const b = s3Store(bucket, { prefix: '/team/repo-b/' });
    const root = s3Store(bucket);
    expect(a.location).toBe(`s3://${bucket}/team/repo-a`);
    expect(root.location).toBe(`s3://${bucket}`);
    await a.put('config', Buffer.from('a'));
    await b.put('config', Buffer.from('b'));
    expect((await a.get('config')).toString()).toBe('a');
    expect((await b.get('config')).toString()).toBe('b');
    expect((await a.list('')).map((object) => object.key)).toEqual(['config']);
    expect((await root.list('team/')).map((object) => object.key)).toEqual(['team/repo-a/config', 'team/repo-b/config']);
    await expect(a.get('../repo-b/config')).rejects.toThrow('invalid object key');
    [a, b, root].forEach((store) => store.destroy());
  });

  it('uploads a 21 MiB object in 8 MiB parts and reads it back whole and by ranges across parts', async () => {
    const bucket = await buckets.create('multipart');
    const { store, counts } = countedStore(bucket);
    const data = pseudoRandomBytes('multipart', 21 * MiB + 123);
    await store.put('data/mp/big', data);

    expect(counts.get('CreateMultipartUploadCommand')).toBe(1);
    expect(counts.get('UploadPartCommand')).toBe(3);
    expect(counts.get('CompleteMultipartUploadCommand')).toBe(1);
    expect(counts.get('PutObjectCommand')).toBeUndefined();
    expect(await store.stat('data/mp/big')).toEqual({ key: 'data/mp/big', size: data.length });
    expect(sha256(await store.get('data/mp/big'))).toBe(sha256(data));
    const acrossParts = 8 * MiB - 1000;
    expect(await store.getRange('data/mp/big', acrossParts, 2000)).toEqual(data.subarray(acrossParts, acrossParts + 2000));
    expect(await store.list('data/')).toEqual([{ key: 'data/mp/big', size: data.length }]);
  });

  it('sends an object under the multipart threshold in one PutObject', async () => {
    const bucket = await buckets.create('single');
    const { store, counts } = countedStore(bucket);
    await store.put('data/sp/small', pseudoRandomBytes('small', 8 * MiB - 1));
    expect(counts.get('PutObjectCommand')).toBe(1);
    expect(counts.get('CreateMultipartUploadCommand')).toBeUndefined();
    expect((await store.stat('data/sp/small'))?.size).toBe(8 * MiB - 1);
  });

  it('a missing bucket: exists() is false, reads are REPO_NOT_FOUND, stat is null; createBucketIfMissing makes it', async () => {
    const bucket = buckets.name('missing');
    const store = s3Store(bucket);
    expect(await store.exists()).toBe(false);
    expect(await store.stat('config')).toBeNull();
    expect(expectEngineError(await errorOf(() => store.get('config')), 'REPO_NOT_FOUND').message).toContain(bucket);
    expectEngineError(await errorOf(() => store.put('config', Buffer.from('x'))), 'REPO_NOT_FOUND');
    expectEngineError(await errorOf(() => store.list('')), 'REPO_NOT_FOUND');
    const opened = expectEngineError(await errorOf(() => Repository.open(store, PASSPHRASE)), 'REPO_NOT_FOUND');
    expect(opened.message).toBe(`repository s3://${bucket} does not exist: no bucket ${bucket} at ${s3Settings.endpoint}`);

    expect(await store.createBucketIfMissing()).toBe(true);
    expect(await store.createBucketIfMissing()).toBe(false);
    expect(await store.exists()).toBe(true);
    expectEngineError(await errorOf(() => Repository.open(store, PASSPHRASE)), 'REPO_NOT_INITIALISED');
    store.destroy();
  });

  it('an unreachable endpoint is a one-line IO_ERROR after the retries, not a stack trace', async () => {
    // Port 1 on the loopback: nothing listens, the connection is refused at once.
    const store = s3Store('any-bucket', { endpoint: 'http://127.0.0.1:1', maxAttempts: 2 });
    const error = expectEngineError(await errorOf(() => store.get('config')), 'IO_ERROR');
    expect(error.message).toMatch(/^cannot reach S3 endpoint http:\/\/127\.0\.0\.1:1 to read s3:\/\/any-bucket\/config \(ECONNREFUSED\)$/);
    expectEngineError(await errorOf(() => store.exists()), 'IO_ERROR');
    expectEngineError(await errorOf(() => store.put('x', Buffer.from('x'))), 'IO_ERROR');
    expectEngineError(await errorOf(() => Repository.open(store, PASSPHRASE)), 'IO_ERROR');
    store.destroy();
  });

  it('refused credentials are a one-line IO_ERROR naming the problem', async () => {
    const bucket = await buckets.create('denied');
    const store = s3Store(bucket, { credentials: { accessKeyId: 'custodia', secretAccessKey: 'wrong-secret' }, maxAttempts: 1 });
    const error = expectEngineError(await errorOf(() => store.get('config')), 'IO_ERROR');
    expect(error.message).toContain('denied');
    expect(error.message).toContain('check the S3 credentials');
    store.destroy();
  });
});

describe('objectStoreFromLocation', () => {
  it('maps s3:// locations to an S3 store configured from the environment, and anything else to a folder', () => {
    const env = { S3_ENDPOINT: 'http://127.0.0.1:9000', S3_ACCESS_KEY_ID: 'id', S3_SECRET_ACCESS_KEY: 'secret' };
    const store = objectStoreFromLocation('s3://my-bucket/backups/host-1/', env);
    expect(store).toBeInstanceOf(S3ObjectStore);
    expect(store.location).toBe('s3://my-bucket/backups/host-1');
    expect((store as S3ObjectStore).endpoint).toBe('http://127.0.0.1:9000');
    expect(objectStoreFromLocation('s3://my-bucket', env).location).toBe('s3://my-bucket');
    expect(objectStoreFromLocation('relative/repo', {}).location).toBe(path.resolve('relative/repo'));
    expect(parseS3Location('s3://bucket.with.dots/a/b')).toEqual({ bucket: 'bucket.with.dots', prefix: 'a/b' });
  });

  it('refuses bad locations and settings with INVALID_ARGUMENT', () => {
    const invalid = (location: string, env: NodeJS.ProcessEnv = {}) => {
      try {
        objectStoreFromLocation(location, env);
      } catch (error) {
        expect(isEngineError(error, 'INVALID_ARGUMENT')).toBe(true);
        return (error as Error).message;
      }
      throw new Error(`${location} was accepted`);
    };
    expect(invalid('s3://Upper_Case/x')).toContain('invalid S3 location');
    expect(invalid('s3://')).toContain('invalid S3 location');
    expect(invalid('s3://ok-bucket/a//b')).toContain('prefix');
    expect(invalid('s3://ok-bucket/../b')).toContain('prefix');
    expect(invalid('gs://bucket/x')).toContain('unsupported repository location');
    expect(invalid('s3://ok-bucket', { S3_ACCESS_KEY_ID: 'only-the-id' })).toContain('S3_SECRET_ACCESS_KEY');
    expect(invalid('s3://ok-bucket', { S3_ENDPOINT: 'localhost:9000' })).toContain('S3_ENDPOINT');
    expect(invalid('s3://ok-bucket', { S3_FORCE_PATH_STYLE: 'maybe' })).toContain('S3_FORCE_PATH_STYLE');
  });
});

describe('the engine on S3', () => {
  const buckets = useBuckets();
  const tempDir = useTempDirs();

  it('init, backup, restore byte for byte, and check --read-data on a bucket', async () => {
    const bucket = await buckets.create('engine');
    const work = await tempDir('s3-engine');
    const source = path.join(work, 'source');
    // The 11 MiB file fills packs above the 8 MiB part size: the engine's multipart path.
    await writeTree(source, standardTree({ absoluteLinkTarget: path.join(work, 'outside') }));
    const original = await describeTree(source);
    const location = `s3://${bucket}/repositories/main`;
    const storeFor = () => objectStoreFromLocation(location, s3Env);

    const repository = await Repository.init(storeFor(), PASSPHRASE, { kdfCost: FAST_KDF });
    const result = await backup(repository, source);
    expect(result.errors).toEqual([]);
    expect(result.incomplete).toBe(false);

    // A fresh handle, as another process would open it.
    const reopened = await Repository.open(storeFor(), PASSPHRASE);
    expect((await reopened.listSnapshots()).map((snapshot) => snapshot.id)).toEqual([result.snapshotId]);
    const packs = await reopened.store.list('data/');
    expect(packs.length).toBeGreaterThan(0);
    expect(Math.max(...packs.map((pack) => pack.size))).toBeGreaterThan(8 * MiB);

    const target = path.join(work, 'restored');
    const restored = await restore(reopened, 'latest', target);
    expect(restored.errors).toEqual([]);
    expect(compareTrees(original, await describeTree(target))).toEqual([]);

    const checked = await check(await Repository.open(storeFor(), PASSPHRASE, { loadIndex: false }), { readData: true });
    expect(checked.errors).toEqual([]);
    expect(checked.warnings).toEqual([]);
    expect(checked.ok).toBe(true);
    expect(checked.packsRead).toBe(packs.length);

    // A second backup of the unchanged tree adds no pack.
    const second = await backup(await Repository.open(storeFor(), PASSPHRASE), source);
    expect(second.parent).toBe(result.snapshotId);
    expect(await (await Repository.open(storeFor(), PASSPHRASE)).store.list('data/')).toHaveLength(packs.length);
    expect(await Repository.open(storeFor(), 'wrong passphrase').catch((error: unknown) => error)).toMatchObject({
      code: 'WRONG_PASSPHRASE',
    });
  });

  it('reads none of the names an upload in progress or a stray file shows in a listing', async () => {
    // S3Proxy's filesystem backend lists an object being uploaded as `<key>-<uuid>`, which a GET
    // then cannot find; a worker that took it for a snapshot once failed a backup for nothing.
    const bucket = await buckets.create('in-flight');
    const work = await tempDir('s3-in-flight');
    const source = path.join(work, 'source');
    await writeTree(source, { 'a.txt': file('alpha\n') });
    const location = `s3://${bucket}/repository`;
    const repository = await Repository.init(objectStoreFromLocation(location, s3Env), PASSPHRASE, { kdfCost: FAST_KDF });
    const { snapshotId } = await backup(repository, source);

    const uploader = s3Store(bucket, { prefix: 'repository', multipartThreshold: 64 * MiB });
    let uploaded = false;
    const upload = uploader.put('snapshots/copied-by-hand.bin', Buffer.alloc(48 * MiB, 7)).finally(() => (uploaded = true));
    const reader = await Repository.open(objectStoreFromLocation(location, s3Env), PASSPHRASE);
    let listings = 0;
    do {
      // S3Proxy can also leave an object out of a listing while another is written (measured 3
      // in 1,038), so the real snapshot may be missing from one listing; nothing else may appear.
      const listed = (await reader.listSnapshots()).map((stored) => stored.id);
      expect(listed.filter((id) => id !== snapshotId)).toEqual([]);
      await reader.loadIndex();
      listings++;
    } while (!uploaded);
    await upload;
    uploader.destroy();
    expect(listings).toBeGreaterThan(0);
    expect((await reader.listSnapshots()).map((stored) => stored.id)).toEqual([snapshotId]);

    const checked = await check(await Repository.open(objectStoreFromLocation(location, s3Env), PASSPHRASE), { readData: true });
    expect(checked.errors).toEqual([]);
    expect(checked.warnings).toEqual([expect.stringMatching(/^1 object\(s\) are not Custodia's and were ignored .*copied-by-hand/)]);
  });
});

describe('the CLI with --repo s3://bucket/prefix', () => {
  const buckets = useBuckets();
  const tempDir = useTempDirs();
  const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { env: { ...s3Env, ...env } });
  const cliOk = (args: string[], env: Record<string, string> = {}) => runCliOk(args, { env: { ...s3Env, ...env } });

  it('repo init creates the bucket; backup, snapshots, restore and check --read-data work on it', async () => {
    const bucket = buckets.name('cli'); // created by `repo init`
    const repo = `s3://${bucket}/custodia`;
    const work = await tempDir('s3-cli');
    const source = path.join(work, 'source');
    await writeTree(source, standardTree({ absoluteLinkTarget: '/nonexistent/target', bigFileBytes: 3 * MiB }));
    const original = await describeTree(source);

    const init = await cliOk(['repo', 'init', '--repo', repo, '--kdf-n', '1024', '--json']);
    expect(JSON.parse(init.stdout)).toMatchObject({ message_type: 'initialized', repository: repo });
    expect(init.stderr).toBe('');
    expectCliError(await cli(['repo', 'init', '--repo', repo, '--kdf-n', '1024']), 'REPO_ALREADY_EXISTS', 1);

    const backedUp = await cliOk(['backup', source, '--repo', repo, '--json']);
    expect(backedUp.stderr).toBe('');
    const summary = JSON.parse(backedUp.stdout.trim().split('\n').at(-1) ?? '{}') as { message_type: string; snapshot_id: string };
    expect(summary.message_type).toBe('summary');

    const snapshots = JSON.parse((await cliOk(['snapshots', '--repo', repo, '--json'])).stdout) as { id: string }[];
    expect(snapshots.map((snapshot) => snapshot.id)).toEqual([summary.snapshot_id]);

    const target = path.join(work, 'restored');
    const restored = await cliOk(['restore', summary.snapshot_id.slice(0, 8), '--repo', repo, '--target', target]);
    expect(restored.stderr).toBe('');
    expect(compareTrees(original, await describeTree(target))).toEqual([]);

    const checked = await cliOk(['check', '--repo', repo, '--read-data']);
    expect(checked.stdout).toContain('no errors were found');
    expect(checked.stderr).toBe('');

    // CUSTODIA_REPOSITORY takes the same locations.
    const viaEnv = await cliOk(['snapshots'], { CUSTODIA_REPOSITORY: repo });
    expect(viaEnv.stdout).toContain('1 snapshot(s)');
  });

  it('errors are one line with a code: missing bucket, unreachable endpoint, bad location, bad credentials', async () => {
    const missing = buckets.name('absent');
    expect(expectCliError(await cli(['snapshots', '--repo', `s3://${missing}/x`]), 'REPO_NOT_FOUND', 10)).toContain(missing);
    const work = await tempDir('s3-cli-errors');
    await fs.writeFile(path.join(work, 'file.txt'), 'x');
    expectCliError(await cli(['backup', work, '--repo', `s3://${missing}`]), 'REPO_NOT_FOUND', 10);

    const unreachable = await cli(['snapshots', '--repo', 's3://some-bucket/x'], { S3_ENDPOINT: 'http://127.0.0.1:1' });
    expect(expectCliError(unreachable, 'IO_ERROR', 1)).toContain('cannot reach S3 endpoint http://127.0.0.1:1');
    const unreachableInit = await cli(['repo', 'init', '--repo', 's3://some-bucket/x'], { S3_ENDPOINT: 'http://127.0.0.1:1' });
    expectCliError(unreachableInit, 'IO_ERROR', 1);

    expectCliError(await cli(['snapshots', '--repo', 's3://Not_A_Bucket/x']), 'INVALID_ARGUMENT', 2);

    const bucket = await buckets.create('cli-denied');
    const denied = await cli(['snapshots', '--repo', `s3://${bucket}`], { S3_SECRET_ACCESS_KEY: 'wrong-secret' });
    expect(expectCliError(denied, 'IO_ERROR', 1)).toContain('check the S3 credentials');
  });
});
