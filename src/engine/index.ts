/** The backup engine's public API: used by the CLI and by the worker, with no Nest dependency. */
export { backup } from './backup/backup';
export type { BackupOptions, BackupProgress, BackupResult } from './backup/backup';
export { check, inSlice } from './check/check';
export { verifySnapshot } from './check/verify-snapshot';
export type { SnapshotVerification } from './check/verify-snapshot';
export type { CheckOptions, CheckProblem, CheckResult } from './check/check';
export { EngineError, isEngineError } from './errors';
export type { ErrorCode } from './errors';
export type { Snapshot, BackupStatistics, Tree, TreeEntry } from './repository/format';
export { createKeySlot, listKeySlots, removeKeySlot } from './repository/key-slots';
export { rebuildIndex } from './repository/rebuild-index';
export { Repository } from './repository/repository';
export type { InitOptions, StoredSnapshot } from './repository/repository';
export { restore } from './restore/restore';
export type { RestoreOptions, RestoreProgress, RestoreResult } from './restore/restore';
export { FsObjectStore } from './storage/fs-object-store';
export type { ObjectStore } from './storage/object-store';
