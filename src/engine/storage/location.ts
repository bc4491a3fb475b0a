import * as path from 'node:path';
import { EngineError } from '../errors';
import { FsObjectStore } from './fs-object-store';
import { ObjectStore } from './object-store';
import { S3ObjectStore, S3ObjectStoreOptions } from './s3-object-store';

/** A parsed `s3://bucket/prefix` location. */
export interface S3Location {
  bucket: string;
  prefix: string;
}

/**
 * The object store for a repository location:
 * - `s3://bucket` or `s3://bucket/some/prefix`: an S3 bucket (S3ObjectStore), configured from
 *   the environment: S3_ENDPOINT (an S3-compatible server such as MinIO; AWS when unset),
 *   S3_REGION (else AWS_REGION, else us-east-1), S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY
 *   (else the AWS SDK's default chain: AWS_ACCESS_KEY_ID..., profiles, instance roles) and
 *   S3_FORCE_PATH_STYLE (true/false; default true when S3_ENDPOINT is set). The SDK's own
 *   AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED turns off the CRC32 checksums it sends by
 *   default, for S3-compatible servers that refuse them (501 NotImplemented);
 * - anything else: a folder (FsObjectStore), relative to the working directory.
 * Other `scheme://` locations are refused with INVALID_ARGUMENT.
 */
export function objectStoreFromLocation(location: string, env: NodeJS.ProcessEnv = process.env): ObjectStore {
  if (/^s3:\/\//i.test(location)) return new S3ObjectStore(s3OptionsFromEnv(parseS3Location(location), env));
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location);
  if (scheme) {
    throw new EngineError('INVALID_ARGUMENT', `unsupported repository location ${location}: use a folder or s3://bucket/prefix`);
  }
  return new FsObjectStore(path.resolve(location));
}

export function parseS3Location(location: string): S3Location {
  const match = /^s3:\/\/([^/]*)\/?(.*)$/i.exec(location);
  const bucket = match?.[1] ?? '';
  // S3's bucket naming rules: 3-63 lowercase letters, digits, dots and hyphens.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    throw new EngineError(
      'INVALID_ARGUMENT',
      `invalid S3 location ${location}: expected s3://bucket/prefix with a bucket name of 3-63 lowercase letters, digits, dots and hyphens`,
    );
  }
  const prefix = (match?.[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((part) => part === '..' || part === '.' || (part === '' && prefix !== ''))) {
    throw new EngineError('INVALID_ARGUMENT', `invalid S3 location ${location}: the prefix must not contain empty, "." or ".." parts`);
  }
  return { bucket, prefix };
}

/** S3ObjectStore options for a location, with endpoint, region and credentials from `env`. */
export function s3OptionsFromEnv(location: S3Location, env: NodeJS.ProcessEnv = process.env): S3ObjectStoreOptions {
  const endpoint = nonEmpty(env.S3_ENDPOINT);
  if (endpoint && !/^https?:\/\/[^/\s]+/i.test(endpoint)) {
    throw new EngineError('INVALID_ARGUMENT', `S3_ENDPOINT must be an http:// or https:// URL, not ${endpoint}`);
  }
  const accessKeyId = nonEmpty(env.S3_ACCESS_KEY_ID);
  const secretAccessKey = nonEmpty(env.S3_SECRET_ACCESS_KEY);
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new EngineError('INVALID_ARGUMENT', 'set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither');
  }
  return {
    bucket: location.bucket,
    prefix: location.prefix,
    endpoint,
    region: nonEmpty(env.S3_REGION) ?? nonEmpty(env.AWS_REGION) ?? 'us-east-1',
    forcePathStyle: parseBoolean(env.S3_FORCE_PATH_STYLE) ?? endpoint !== undefined,
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function parseBoolean(value: string | undefined): boolean | undefined {
  const text = nonEmpty(value)?.toLowerCase();
  if (text === undefined) return undefined;
  if (['1', 'true', 'yes', 'on'].includes(text)) return true;
  if (['0', 'false', 'no', 'off'].includes(text)) return false;
  throw new EngineError('INVALID_ARGUMENT', `S3_FORCE_PATH_STYLE must be true or false, not ${value}`);
}
