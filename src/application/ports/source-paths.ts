/** Checks a source folder on the machine the service runs on, before it is registered. */
export interface SourcePaths {
  /** null if the path is an existing, readable directory; otherwise why not. */
  problemWith(path: string): Promise<string | null>;
}
