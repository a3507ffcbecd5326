/**
 * No import circles, type imports included: a circle means some type or constant lives with a
 * user instead of its owner, and a reader cannot take any file of the circle in isolation.
 */
import { describe, expect, it } from "vitest";
import { importCycles, sourceFiles } from "./imports.ts";

describe("import cycles", () => {
  for (const folder of ["tenant-proxy/src", "infra", "scripts"]) {
    it(`has none in ${folder}/`, () => {
      const circles = importCycles(sourceFiles(folder)).map((circle) => circle.join(" → "));
      expect(circles).toEqual([]);
    });
  }

  it("finds a circle when there is one", () => {
    // Guards the checks above against a reader that finds no edges at all.
    expect(importCycles(["test/architecture/fixtures/circle-a.ts", "test/architecture/fixtures/circle-b.ts"])).toEqual([
      ["test/architecture/fixtures/circle-a.ts", "test/architecture/fixtures/circle-b.ts", "test/architecture/fixtures/circle-a.ts"],
    ]);
  });
});
