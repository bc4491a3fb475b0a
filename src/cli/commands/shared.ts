/** Helpers the CLI's commands share. */

/** Sets the exit code without exiting, so output is flushed first. */
export function exitWith(code: number): void {
  process.exitCode = code;
}

/** A repeatable option's values, or undefined when it was not given. */
export function flag(values: string[]): string[] | undefined {
  return values.length > 0 ? values : undefined;
}

/** A problem's path (relative to the source root, "." for the root) as the user gave the source. */
export function inSource(source: string, relative: string): string {
  return relative === '.' ? source : `${source}/${relative}`;
}
