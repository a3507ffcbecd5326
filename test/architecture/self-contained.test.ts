/**
 * The repository explains itself: no comment or script sends the reader to a document outside it
 * (the design notes and reference files the team works from live beside the repository, not in a
 * clone). What a comment relies on is said in the repository's own READMEs.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const REPOSITORY = join(import.meta.dirname, "..", "..");
const FOLDERS = ["infra", "scripts", "templates", "tenant-proxy", "test", ".ci"];
const OUTSIDE = [/\bDESIGN(\.md)?\b/, /\.\.\/shared\b/, /§\s*\d/];

function filesUnder(folder: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      if (name === "node_modules" || name === "dist" || name === "__snapshots__") continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else found.push(path);
    }
  };
  walk(join(REPOSITORY, folder));
  return found;
}

describe("the repository is self-contained", () => {
  it("has no comment or script that points to a document outside it", () => {
    const self = import.meta.filename;
    const pointing = FOLDERS.flatMap(filesUnder)
      .filter((path) => path !== self)
      .flatMap((path) =>
        readFileSync(path, "utf8")
          .split("\n")
          .flatMap((line, index) =>
            OUTSIDE.some((pattern) => pattern.test(line)) ? [`${path.slice(REPOSITORY.length + 1)}:${index + 1}: ${line.trim()}`] : [],
          ),
      );
    expect(pointing).toEqual([]);
  });

  it("reads the files it checks", () => {
    // Guards the check above against passing because it read nothing.
    expect(FOLDERS.flatMap(filesUnder).length).toBeGreaterThan(200);
  });
});
