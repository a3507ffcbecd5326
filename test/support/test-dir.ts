/**
 * A temporary directory for one test file, removed when the file's tests are done (also when they
 * fail), with a writer for the small JSON files the proxy reads (tokens, flavors, quotas, filters).
 * Call it at a test file's top level: it registers its own afterAll.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

export interface TestDir {
  path: string;
  /** Writes `content` (JSON unless a string) to `name` in the directory; returns its path. */
  file(name: string, content: unknown): string;
}

export function testDir(prefix: string): TestDir {
  const path = mkdtempSync(join(tmpdir(), `berth-${prefix}-`));
  afterAll(() => rmSync(path, { recursive: true, force: true }));
  return {
    path,
    file: (name, content) => {
      const target = join(path, name);
      writeFileSync(target, typeof content === "string" ? content : JSON.stringify(content));
      return target;
    },
  };
}
