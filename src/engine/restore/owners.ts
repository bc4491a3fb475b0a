import { EntryMetadata } from '../repository/format';
import { nativeFs } from '../platform/native-fs';

/**
 * Who a restored entry belongs to. Owners are restored only by root (no one else may give a
 * file away), by name where the name is known on this machine (a uid can mean someone else
 * here), else by number; `numericOwner` uses the numbers alone, as tar's --numeric-owner.
 */
export class OwnerResolver {
  readonly restoresOwners: boolean;
  private readonly users = new Map<string, number | null>();
  private readonly groups = new Map<string, number | null>();

  constructor(private readonly numericOwner: boolean) {
    this.restoresOwners = typeof process.geteuid === 'function' && process.geteuid() === 0;
  }

  /** The owner to give the entry, or null to leave the restoring user's (not root, or no owner stored). */
  ownerOf(entry: EntryMetadata): { uid: number; gid: number } | null {
    if (!this.restoresOwners || entry.uid === undefined || entry.gid === undefined) return null;
    if (this.numericOwner) return { uid: entry.uid, gid: entry.gid };
    return {
      uid: (entry.user !== undefined ? this.userId(entry.user) : null) ?? entry.uid,
      gid: (entry.group !== undefined ? this.groupId(entry.group) : null) ?? entry.gid,
    };
  }

  private userId(name: string): number | null {
    if (!this.users.has(name)) this.users.set(name, nativeFs().userId(name));
    return this.users.get(name) ?? null;
  }

  private groupId(name: string): number | null {
    if (!this.groups.has(name)) this.groups.set(name, nativeFs().groupId(name));
    return this.groups.get(name) ?? null;
  }
}
