import type * as ClientS3 from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import type * as LibStorage from '@aws-sdk/lib-storage';
import { EngineError, errnoCode } from '../errors';
import { ObjectInfo, ObjectNotFoundError, ObjectStore } from './object-store';

/* eslint-disable @typescript-eslint/no-require-imports -- loaded on demand, see below */
/**
 * The AWS SDK takes a few hundred milliseconds to load: it is required when an S3 store is made
 * (and lib-storage on the first multipart upload), so the CLI on a folder repository never pays.
 */
const clientS3 = (): typeof ClientS3 => require('@aws-sdk/client-s3') as typeof ClientS3;
const libStorage = (): typeof LibStorage => require('@aws-sdk/lib-storage') as typeof LibStorage;
/* eslint-enable @typescript-eslint/no-require-imports */

const MiB = 1024 * 1024;

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3ObjectStoreOptions {
  bucket: string;
  /** Key prefix inside the bucket ('' for the bucket's root); a trailing '/' is added. */
  prefix?: string;
  /** A custom endpoint (MinIO, S3Proxy, Ceph...), e.g. http://127.0.0.1:9000; AWS when unset. */
  endpoint?: string;
  /** Default us-east-1. */
  region?: string;
  /** Path-style URLs (endpoint/bucket/key) instead of bucket.endpoint/key. Default: true when an endpoint is given. */
  forcePathStyle?: boolean;
  /** Static credentials; when unset, the SDK's default chain (AWS_* variables, profiles, instance roles). */
  credentials?: S3Credentials;
  /** Attempts per request, retries included, with the SDK's standard back-off. Default 5. */
  maxAttempts?: number;
  /** Objects of at least this many bytes are uploaded in parts. Default 8 MiB. */
  multipartThreshold?: number;
  /** Size of one part of a multipart upload (5 MiB at least). Default 8 MiB. */
  partSize?: number;
  /** Parts of one object uploaded at once. Default 4. */
  queueSize?: number;
  /** Keys per ListObjectsV2 page (at most 1000, the default). */
  pageSize?: number;
  /** Milliseconds to wait for a TCP connection before giving up on an attempt. Default 10000. */
  connectionTimeoutMs?: number;
  /** A ready client (tests); the endpoint, region, credentials and retry options are then ignored. */
  client?: S3Client;
}

/**
 * Objects in an S3 bucket (AWS, or any S3-compatible server: MinIO, S3Proxy, Ceph), under an
 * optional key prefix, so one bucket can hold several repositories.
 *
 * Write-once holds by the protocol itself: S3 makes an object visible only once its PutObject,
 * or the CompleteMultipartUpload of a multipart upload, has succeeded, and then whole. A failed or
 * interrupted upload leaves no object under the key. A multipart upload cut short by a crash
 * leaves its parts in the bucket, invisible to reads and lists (a failed one is aborted by the
 * upload itself); they are billed until a lifecycle rule (AbortIncompleteMultipartUpload) removes
 * them. That is why `listLeftovers` returns nothing: there is no half-written object to report,
 * and an unfinished multipart upload cannot be told apart from another client's backup that is
 * uploading at that moment. Some S3-compatible servers do list an upload in progress, under a
 * name of its own (S3Proxy's filesystem backend: `<key>-<uuid>`); the engine reads only the names
 * it writes (repository/object-names.ts), so such a name is never taken for an object.
 *
 * Errors: a missing key is an ObjectNotFoundError (the engine's contract); a missing bucket, an
 * unreachable endpoint, refused credentials and any other failure become an EngineError with a
 * one-line message (REPO_NOT_FOUND or IO_ERROR), so the CLI never prints a stack trace.
 */
export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly endpoint: string | undefined;
  private readonly client: S3Client;
  private readonly sdk: typeof ClientS3;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly pageSize: number;

  constructor(options: S3ObjectStoreOptions) {
    this.bucket = options.bucket;
    this.prefix = normalisePrefix(options.prefix ?? '');
    this.endpoint = options.endpoint;
    this.partSize = Math.max(options.partSize ?? 8 * MiB, 5 * MiB);
    this.multipartThreshold = options.multipartThreshold ?? this.partSize;
    this.queueSize = options.queueSize ?? 4;
    this.pageSize = Math.min(Math.max(options.pageSize ?? 1000, 1), 1000);
    this.sdk = clientS3();
    this.client = options.client ?? createS3Client(this.sdk, options);
  }

  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`.replace(/\/$/, '');
  }

  async put(key: string, data: Buffer): Promise<void> {
    const Key = this.keyOf(key);
    try {
      if (data.length < this.multipartThreshold) {
        await this.client.send(new this.sdk.PutObjectCommand({ Bucket: this.bucket, Key, Body: data, ContentLength: data.length }));
        return;
      }
      // Parts are sent queueSize at a time; on failure the upload is aborted, so nothing is left.
      const upload = new (libStorage().Upload)({
        client: this.client,
        params: { Bucket: this.bucket, Key, Body: data },
        partSize: this.partSize,
        queueSize: this.queueSize,
        leavePartsOnError: false,
      });
      await upload.done();
    } catch (error) {
      throw this.translate(error, 'write', key);
    }
  }

  async get(key: string): Promise<Buffer> {
    return this.read(key, undefined);
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    try {
      return await this.read(key, `bytes=${offset}-${offset + length - 1}`);
    } catch (error) {
      // A range that starts at or past the end: like a file read there, no bytes.
      if (statusOf(error) === 416) return Buffer.alloc(0);
      throw error;
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    const Key = this.keyOf(key);
    try {
      const head = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key }));
      return { key, size: head.ContentLength ?? 0 };
    } catch (error) {
      // HEAD responses have no body: a missing key and a missing bucket are both a bare 404.
      if (statusOf(error) === 404) return null;
      throw this.translate(error, 'stat', key);
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const found: ObjectInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new this.sdk.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            MaxKeys: this.pageSize,
            ContinuationToken: token,
          }),
        );
        for (const object of page.Contents ?? []) {
          // Keys ending in '/' are folder markers some tools create, never objects of ours.
          if (!object.Key || object.Key.endsWith('/') || !object.Key.startsWith(this.prefix)) continue;
          found.push({ key: object.Key.slice(this.prefix.length), size: object.Size ?? 0 });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw this.translate(error, 'list', prefix);
    }
    return found.sort((a, b) => a.key.localeCompare(b.key));
  }

  async delete(key: string): Promise<void> {
    const Key = this.keyOf(key);
    try {
      await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (error) {
      if (errorName(error) === 'NoSuchKey') return;
      throw this.translate(error, 'delete', key);
    }
  }

  /** Whether the bucket exists (HeadBucket succeeds). The prefix is not checked: S3 has no folders. */
  async exists(): Promise<boolean> {
    try {
      await this.client.send(new this.sdk.HeadBucketCommand({ Bucket: this.bucket }));
      return true;
    } catch (error) {
      if (statusOf(error) === 404 || errorName(error) === 'NoSuchBucket') return false;
      throw this.translate(error, 'check', '');
    }
  }

  /** Always empty: S3 never shows a partly written object (see the class comment). */
  async listLeftovers(): Promise<string[]> {
    return [];
  }

  /** Creates the bucket unless it exists; returns whether it was created (used by `repo init`). */
  async createBucketIfMissing(): Promise<boolean> {
    if (await this.exists()) return false;
    try {
      await this.client.send(new this.sdk.CreateBucketCommand({ Bucket: this.bucket }));
      return true;
    } catch (error) {
      const name = errorName(error);
      if (name === 'BucketAlreadyOwnedByYou') return false;
      throw this.translate(error, 'create bucket', '');
    }
  }

  /** Closes the client's idle connections. */
  destroy(): void {
    this.client.destroy();
  }

  private async read(key: string, range: string | undefined): Promise<Buffer> {
    // The SDK retries a request until its response headers arrive; a connection lost while the
    // body streams in is retried here.
    const Key = this.keyOf(key);
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key, Range: range }));
        if (!response.Body) return Buffer.alloc(0);
        const bytes = await response.Body.transformToByteArray();
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      } catch (error) {
        if (attempt < 3 && statusOf(error) === undefined && isTransientNetworkError(error)) continue;
        if (statusOf(error) === 416) throw error;
        throw this.translate(error, 'read', key);
      }
    }
  }

  private keyOf(key: string): string {
    if (key === '' || key.startsWith('/') || key.split('/').some((part) => part === '..' || part === '' || part === '.')) {
      throw new Error(`invalid object key ${key}`);
    }
    return this.prefix + key;
  }

  /** An SDK or network error as the engine's error types. */
  private translate(error: unknown, operation: string, key: string): Error {
    if (error instanceof EngineError || error instanceof ObjectNotFoundError) return error;
    const name = errorName(error);
    const status = statusOf(error);
    const where = key ? `${this.location}/${key}` : this.location;
    if (name === 'NoSuchKey') return new ObjectNotFoundError(key);
    if (name === 'NoSuchBucket') {
      return new EngineError('REPO_NOT_FOUND', `repository ${this.location} does not exist: no bucket ${this.bucket}${this.at()}`, {
        cause: error,
      });
    }
    if (status === 404 && operation === 'read') return new ObjectNotFoundError(key);
    if (name === 'CredentialsProviderError') {
      return new EngineError(
        'IO_ERROR',
        `no S3 credentials for ${this.location}: set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an AWS profile)`,
        { cause: error },
      );
    }
    if (status === undefined) {
      // No response: ECONNREFUSED, ENOTFOUND, TimeoutError... (the code is read from the message
      // too: the SDK wraps an error from another realm, as under Jest, in a plain one). Anything
      // else without a response is not the network's doing and stays as it is.
      const code = errnoCode(error) ?? /\b(E[A-Z0-9_]{3,})\b/.exec(messageOf(error))?.[1];
      if (!code && !hasSdkMetadata(error) && error instanceof Error) return error;
      const reason = code ?? (name && name !== 'Error' ? name : messageOf(error));
      return new EngineError('IO_ERROR', `cannot reach S3 endpoint ${this.endpoint ?? 'of AWS'} to ${operation} ${where} (${reason})`, {
        cause: error,
      });
    }
    // A HEAD response has no body: the SDK then names the error Unknown / UnknownError.
    const detail =
      [name, messageOf(error)].filter((part) => part && part !== 'Unknown' && part !== 'UnknownError').join(': ') || `HTTP ${status}`;
    if (status === 403 || name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch') {
      return new EngineError('IO_ERROR', `access to ${where} denied${this.at()} (${detail}); check the S3 credentials`, { cause: error });
    }
    // Servers that predate the SDK's default CRC32 checksums (S3Proxy 2.x, older MinIO/Ceph) refuse them.
    const hint =
      status === 501 && operation === 'write'
        ? '; if the server does not support checksums, set AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED'
        : '';
    return new EngineError('IO_ERROR', `S3 ${operation} of ${where} failed${this.at()} (HTTP ${status}, ${detail})${hint}`, {
      cause: error,
    });
  }

  private at(): string {
    return this.endpoint ? ` at ${this.endpoint}` : '';
  }
}

function createS3Client(sdk: typeof ClientS3, options: S3ObjectStoreOptions): S3Client {
  // Under Node < 22 the SDK prints a multi-line NodeVersionSupportWarning on stderr when the
  // first client is made: it would break the CLI's one-line error contract. Set the variable to
  // anything but "true" beforehand to see it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new sdk.S3Client({
    endpoint: options.endpoint,
    region: options.region ?? 'us-east-1',
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    credentials: options.credentials,
    maxAttempts: options.maxAttempts ?? 5,
    retryMode: 'standard',
    requestHandler: { connectionTimeout: options.connectionTimeoutMs ?? 10_000 },
  });
}

function normalisePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  return trimmed ? `${trimmed}/` : '';
}

function errorName(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'name' in error) {
    const name = (error as { name: unknown }).name;
    return typeof name === 'string' ? name : undefined;
  }
  return undefined;
}

/** Whether the SDK handled the error (it adds $metadata: attempts, retry delay, status). */
function hasSdkMetadata(error: unknown): boolean {
  return typeof error === 'object' && error !== null && '$metadata' in error;
}

/** The HTTP status of an S3 error response; undefined when no response came (network, timeout). */
function statusOf(error: unknown): number | undefined {
  if (typeof error === 'object' && error !== null && '$metadata' in error) {
    const status = (error as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode;
    return typeof status === 'number' ? status : undefined;
  }
  return undefined;
}

function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0];
}

function isTransientNetworkError(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT' || code === 'ECONNABORTED';
}
