/**
 * Runs once per test run, in the vitest main process, before any test file: it creates the run
 * (directory, bridge, FORWARD rule), starts the shared registry and Keystone, and builds the test
 * image, then hands the run to the workers through BERTH_TEST_RUN_DIR. Keystone's start-up is the
 * slow part, so the registry and the image are done while it boots. Teardown releases everything
 * the run's ledger still lists, including what a crashed worker left behind.
 */
import { startSharedKeystone, beginRun, endRun, reapOnSignal, startRegistryWithTestImages } from "../scripts/harness/index.ts";

export default async function setup(): Promise<() => Promise<void>> {
  const run = await beginRun();
  const stopReaping = reapOnSignal(run);
  const teardown = async () => {
    await endRun(run.dir);
    stopReaping();
  };
  try {
    await Promise.all([startSharedKeystone(run), startRegistryWithTestImages(run)]);
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}
