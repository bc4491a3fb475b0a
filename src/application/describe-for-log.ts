/**
 * Names the failure by its class and stable code only: messages can quote paths or other data
 * that must not reach the logs.
 */
export function describeForLog(error: unknown): string {
  if (!(error instanceof Error)) return 'non-error thrown';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `${error.name} ${code}` : error.name;
}
