import { BlobLocation, PackRecord } from './format';

export interface IndexedBlob {
  packId: string;
  location: BlobLocation;
}

/** In-memory view of every index file: blob id -> pack and position. */
export class BlobIndex {
  private readonly blobs = new Map<string, IndexedBlob>();
  private readonly packs = new Map<string, PackRecord>();

  /** Forgets everything: the index files it came from were replaced (prune, index rebuild). */
  clear(): void {
    this.blobs.clear();
    this.packs.clear();
  }

  addPack(record: PackRecord): void {
    this.packs.set(record.id, record);
    for (const location of record.blobs) {
      // A blob stored twice (two concurrent backups) is harmless; keep the first copy.
      if (!this.blobs.has(location.id)) this.blobs.set(location.id, { packId: record.id, location });
    }
  }

  has(id: string): boolean {
    return this.blobs.has(id);
  }

  lookup(id: string): IndexedBlob | undefined {
    return this.blobs.get(id);
  }

  pack(id: string): PackRecord | undefined {
    return this.packs.get(id);
  }

  allPacks(): PackRecord[] {
    return [...this.packs.values()];
  }

  get blobCount(): number {
    return this.blobs.size;
  }
}
