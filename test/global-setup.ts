/**
 * Runs once per test run, before any test file. The daemon harness hooks in here.
 */
export default async function setup(): Promise<() => Promise<void>> {
  return async () => {};
}
