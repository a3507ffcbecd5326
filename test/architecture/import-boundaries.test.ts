/**
 * The harness is a library under scripts/harness/ with one entry, and the dependency between the
 * shipped code and the tests is one-way: test/ may import scripts/, infra/ and tenant-proxy/, never
 * the reverse.
 */
import { describe, expect, it } from "vitest";
import { importsOf, sourceFiles, type ImportEdge } from "./imports.ts";

const HARNESS = "scripts/harness/";
const HARNESS_ENTRY = "scripts/harness/index.ts";

const shippedImports = (): ImportEdge[] => ["scripts", "infra", "tenant-proxy"].flatMap(sourceFiles).flatMap(importsOf);
const allImports = (): ImportEdge[] => ["scripts", "infra", "tenant-proxy", "test"].flatMap(sourceFiles).flatMap(importsOf);
const describeEdge = (edge: ImportEdge): string => `${edge.from} imports ${edge.to}`;

describe("import boundaries", () => {
  it("never imports test/ from scripts/, infra/ or tenant-proxy/", () => {
    const intoTests = shippedImports().filter((edge) => edge.to.startsWith("test/"));
    expect(intoTests.map(describeEdge)).toEqual([]);
  });

  it("reaches the harness only through scripts/harness/index.ts from outside it", () => {
    const pastTheEntry = allImports().filter((edge) => !edge.from.startsWith(HARNESS) && edge.to.startsWith(HARNESS) && edge.to !== HARNESS_ENTRY);
    expect(pastTheEntry.map(describeEdge)).toEqual([]);
  });

  it("reads imports: the harness's users are found", () => {
    // Guards the two checks above against passing because the reader found nothing.
    expect(allImports().filter((edge) => edge.to === HARNESS_ENTRY).length).toBeGreaterThan(20);
  });
});
