/** Runs `work` and returns the error it throws (failing when it does not throw). */
export async function errorOf(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}
