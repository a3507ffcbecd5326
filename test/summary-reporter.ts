/**
 * Prints the plain closing line CI reads: `N passed, N failed` (`, N skipped` when any).
 * A test file or suite that fails outside any test (a crashed `beforeAll`, an import error) and
 * an unhandled error each count as one failure, so a broken harness can never look green.
 */
import type { Reporter, TestModule } from "vitest/node";

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    for (const module of modules) {
      let failedInModule = 0;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") passed++;
        else if (state === "failed") failedInModule++;
        else skipped++;
      }
      const moduleBroke = module.state() === "failed" || module.errors().length > 0;
      if (failedInModule === 0 && moduleBroke) failedInModule = 1;
      for (const suite of module.children.allSuites()) {
        if (suite.state() === "failed" && suite.errors().length > 0 && failedInModule === 0) failedInModule = 1;
      }
      failed += failedInModule;
    }
    const tail = skipped > 0 ? `, ${skipped} skipped` : "";
    process.stdout.write(`\n${passed} passed, ${failed} failed${tail}\n`);
  }
}
