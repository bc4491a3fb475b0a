/** Why a folder cannot be registered as a source: not a readable folder, or a confinement rule. */
export interface SourcePathProblem {
  code: 'INVALID_INPUT' | 'SOURCE_FORBIDDEN';
  message: string;
}

/** Checks a source folder on the machine the service runs on, before it is registered. */
export interface SourcePaths {
  /**
   * null if the path is an existing, readable directory that the confinement rules allow
   * (see source-confinement.ts); otherwise why not.
   */
  problemWith(path: string): Promise<SourcePathProblem | null>;
}
