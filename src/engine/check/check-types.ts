export interface CheckOptions {
  /** Decrypt and hash-check every blob. */
  readData?: boolean;
  /** Read only slice n of m (1-based), so verification can be spread over runs or workers. */
  readDataSubset?: { n: number; m: number };
  onProgress?: (progress: { packsDone: number; totalPacks: number }) => void;
}

export interface CheckProblem {
  kind:
    | 'index-damaged'
    | 'snapshot-damaged'
    | 'tree-damaged'
    | 'blob-missing'
    | 'pack-missing'
    | 'pack-size'
    | 'pack-damaged'
    | 'subject-key-missing'
    | 'subject-key-damaged'
    | 'sealed-entry-damaged'
    | 'snapshot-unrestorable';
  object: string;
  message: string;
  /** Snapshots and files that cannot be fully restored because of this problem. */
  affected?: { snapshot: string; paths: string[] }[];
}

export interface CheckResult {
  ok: boolean;
  snapshots: number;
  packs: number;
  blobs: number;
  packsRead: number;
  blobsRead: number;
  errors: CheckProblem[];
  /** Harmless findings: unreferenced packs or temporary files left by an interrupted backup. */
  warnings: string[];
  /** Data subjects with an active key. */
  activeSubjects: number;
  /** Data subjects with a shredded key: erased, as requested. */
  shreddedSubjects: number;
  /** Sealed entries (counted per snapshot) and blobs of erased subjects: unreadable by design, not damage. */
  shreddedEntries: number;
  shreddedBlobs: number;
}
