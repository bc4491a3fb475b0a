import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  ListObjectsV2CommandOutput,
  S3Client,
} from '@aws-sdk/client-s3';
import { S3ObjectStore, S3ObjectStoreOptions } from '../../../src/engine';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * Where the S3 integration tests connect: the S3_* variables of scripts/services.sh, defaulting
 * to the S3Proxy it starts (bash scripts/services.sh up).
 */
export const s3Settings = {
  endpoint: process.env.S3_ENDPOINT ?? 'http://127.0.0.1:9000',
  region: process.env.S3_REGION ?? 'us-east-1',
  accessKeyId: process.env.S3_ACCESS_KEY_ID ?? 'custodia',
  secretAccessKey: process.env.S3_SECRET_ACCESS_KEY ?? 'custodia-secret',
};

/** The environment the CLI reads the S3 settings from. */
export const s3Env: Record<string, string> = {
  S3_ENDPOINT: s3Settings.endpoint,
  S3_REGION: s3Settings.region,
  S3_ACCESS_KEY_ID: s3Settings.accessKeyId,
  S3_SECRET_ACCESS_KEY: s3Settings.secretAccessKey,
  S3_FORCE_PATH_STYLE: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

export function s3Client(overrides: { maxAttempts?: number } = {}): S3Client {
  return new S3Client({
    endpoint: s3Settings.endpoint,
    region: s3Settings.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3Settings.accessKeyId, secretAccessKey: s3Settings.secretAccessKey },
    ...overrides,
  });
}

/** Counts the commands a client sends, by name (PutObjectCommand, UploadPartCommand...). */
export function countCommands(client: S3Client): Map<string, number> {
  const counts = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => (args) => {
      const name = context.commandName ?? 'unknown';
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'custodiaTestCommandCounter' },
  );
  return counts;
}

/** A bucket name no other test uses: lowercase, at most 63 characters. */
export function uniqueBucketName(label: string): string {
  return `it-${label}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`.toLowerCase().slice(0, 63);
}

/**
 * Buckets for a spec file: each call creates a new one; all are emptied and removed after the
 * file's tests. Fails with a hint when S3Proxy is not running.
 */
export function useBuckets(): { create(label: string): Promise<string>; name(label: string): string } {
  const client = s3Client();
  const created: string[] = [];
  afterAll(async () => {
    for (const bucket of created.splice(0)) await removeBucket(client, bucket).catch(() => undefined);
    client.destroy();
  });
  return {
    /** A name registered for removal, for a bucket that the code under test creates. */
    name(label: string): string {
      const bucket = uniqueBucketName(label);
      created.push(bucket);
      return bucket;
    },
    async create(label: string): Promise<string> {
      const bucket = uniqueBucketName(label);
      try {
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
      } catch (error) {
        throw new Error(
          `cannot create bucket ${bucket} at ${s3Settings.endpoint} (${error instanceof Error ? error.message : String(error)}); ` +
            'is S3Proxy running? bash scripts/services.sh up',
        );
      }
      created.push(bucket);
      return bucket;
    },
  };
}

async function removeBucket(client: S3Client, bucket: string): Promise<void> {
  let page: ListObjectsV2CommandOutput;
  do {
    page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (page.Contents ?? []).flatMap((object) => (object.Key ? [{ Key: object.Key }] : []));
    if (keys.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
  } while (page.IsTruncated);
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/** A store on the test server, with a client of its own unless one is given. */
export function s3Store(bucket: string, options: Partial<S3ObjectStoreOptions> = {}): S3ObjectStore {
  return new S3ObjectStore({
    bucket,
    endpoint: s3Settings.endpoint,
    region: s3Settings.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3Settings.accessKeyId, secretAccessKey: s3Settings.secretAccessKey },
    ...options,
  });
}
