/**
 * Names the failure by its class and stable code only: messages can quote paths or other data
 * that must not reach the logs.
 */
export function describeForLog(error: unknown): string {
  if (!(error instanceof Error)) return 'non-error thrown';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `${error.name} ${code}` : error.name;
}

/**
 * Where an unexpected error was thrown: the first stack frames, which name program files and
 * lines only (never the message, which may quote data). Enough to find a bug from a log.
 */
export function describeOrigin(error: unknown, frames = 3): string {
  if (!(error instanceof Error) || !error.stack) return describeForLog(error);
  const where = error.stack
    .split('\n')
    .filter((line) => line.trimStart().startsWith('at '))
    .slice(0, frames)
    .map((line) => line.trim().slice(3));
  return where.length > 0 ? `${describeForLog(error)} at ${where.join(' < ')}` : describeForLog(error);
}
