/** Injection tokens for the ports; infrastructure modules bind adapters to them. */
export const EVENT_STORE = Symbol('EventStore');
export const CHECKPOINT_STORE = Symbol('CheckpointStore');
export const JOB_BUS = Symbol('JobBus');
export const JOB_TRACKER = Symbol('JobTracker');
export const CLOCK = Symbol('Clock');
export const READ_MODEL = Symbol('ReadModel');
export const SOURCE_PATHS = Symbol('SourcePaths');
export const SETTINGS = Symbol('Settings');
export const SUBJECT_PSEUDONYMS = Symbol('SubjectPseudonyms');
export const RETENTION_POLICY = Symbol('RetentionPolicy');
export const SNAPSHOT_PROBLEMS = Symbol('SnapshotProblems');
export const SUBJECT_RULE_SYNTAX = Symbol('SubjectRuleSyntax');
export const RESTORE_TARGET_GATE = Symbol('RestoreTargetGate');
export const LEADERSHIP = Symbol('Leadership');
