/** Which snapshots, and which paths in them, use a blob: what a damaged blob affects. */
export class BlobUsers {
  readonly bySnapshot = new Map<string, Set<string>>();

  add(snapshot: string, path: string): void {
    let paths = this.bySnapshot.get(snapshot);
    if (!paths) this.bySnapshot.set(snapshot, (paths = new Set()));
    paths.add(path);
  }

  summary(): { snapshot: string; paths: string[] }[] {
    return [...this.bySnapshot].map(([snapshot, paths]) => ({ snapshot, paths: [...paths].sort() }));
  }
}
