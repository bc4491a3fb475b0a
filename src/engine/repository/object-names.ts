import { ObjectInfo, ObjectStore } from '../storage/object-store';

const HEX64 = '[0-9a-f]{64}';
const HEX32 = '[0-9a-f]{32}';
const PSEUDONYM = '[A-Za-z0-9_-]{1,128}';

/** Every name the engine writes (see Keys in format.ts); nothing else in a repository is ours. */
const REPOSITORY_OBJECT_NAME = new RegExp(
  `^(?:config|pseudonym-check|keys/${HEX32}|locks/${HEX32}|data/([0-9a-f]{2})/(${HEX64})|index/${HEX64}|snapshots/${HEX64}|` +
    `subject-keys/${PSEUDONYM}/${HEX32}|subject-tombstones/${PSEUDONYM}/${HEX32})$`,
);

/** Whether `key` is a name the engine writes: a pack must also sit in the folder of its id's first two digits. */
export function isRepositoryObjectName(key: string): boolean {
  const match = REPOSITORY_OBJECT_NAME.exec(key);
  if (!match) return false;
  const [, packFolder, packId] = match;
  return packFolder === undefined || packId.startsWith(packFolder);
}

/** The pack id in a pack's key (`data/<2 hex>/<id>`): the inverse of Keys.pack. */
export function packIdOf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/**
 * The repository's own objects under `prefix`. A listing can show other names: S3Proxy's
 * filesystem backend lists an upload in progress as `<key>-<uuid>` (a GET of it then fails
 * with "not found"), and people copy files into buckets. Reading such a name as a snapshot or an
 * index file would fail a backup that has nothing wrong with it, so they are left out here, and
 * `check` counts them as foreign objects instead.
 */
export async function listRepositoryObjects(store: ObjectStore, prefix: string): Promise<ObjectInfo[]> {
  return (await store.list(prefix)).filter((object) => isRepositoryObjectName(object.key));
}
