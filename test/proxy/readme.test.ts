/**
 * tenant-proxy/README.md is the settings reference and the list of FDCS operation names: it is
 * checked against the settings reader and the operations table, so neither can change without it.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { OPERATIONS } from "../../tenant-proxy/src/operations.ts";

const README = readFileSync(new URL("../../tenant-proxy/README.md", import.meta.url), "utf8");
/** Every variable the proxy reads is named in its settings reader. */
const READER = readFileSync(new URL("../../tenant-proxy/src/settings.ts", import.meta.url), "utf8");

const VARIABLE = /\b(?:BERTH|SWARM)_[A-Z0-9_]+\b/g;
const namesIn = (text: string): Set<string> => new Set(text.match(VARIABLE) ?? []);

/** The section under a heading, up to the next heading of the same or a higher level. */
function section(heading: string): string {
  const start = README.indexOf(`\n${heading}\n`);
  if (start === -1) throw new Error(`tenant-proxy/README.md has no "${heading}"`);
  const level = heading.match(/^#+/)![0];
  const rest = README.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`\\n#{1,${level.length}} `));
  return end === -1 ? rest : rest.slice(0, end);
}

describe("tenant-proxy/README.md: the settings reference", () => {
  it("documents every variable the settings reader reads", () => {
    const documented = (name: string) => new RegExp(`\`${name}[\`=]`).test(README);
    const undocumented = [...namesIn(READER)].filter((name) => !documented(name)).sort();
    expect(undocumented).toEqual([]);
  });

  it("documents no variable the reader does not read", () => {
    const read = namesIn(READER);
    const tableRows = README.split("\n").filter((line) => line.startsWith("| `"));
    const unknown = [...namesIn(tableRows.join("\n"))].filter((name) => !read.has(name)).sort();
    expect(unknown).toEqual([]);
  });
});

describe("tenant-proxy/README.md: the FDCS operation names", () => {
  const names = section("## Policy: flavors, quotas, API filter");
  const list = (who: string): Set<string> => {
    const item = names.split("\n* ").find((entry) => entry.startsWith(who));
    if (!item) throw new Error(`no "* ${who}" list`);
    // The names run up to the first ";"; what follows is prose (importing is `imagescreate` with `fromSrc`).
    return new Set([...item.split(";")[0]!.matchAll(/`([a-z]+)`/g)].map((match) => match[1]!));
  };
  const byAccess = (access: string[]): Set<string> => new Set(OPERATIONS.filter((op) => access.includes(op.access)).map((op) => op.fdcs));

  it("lists every name of the operations table, each where its access puts it", () => {
    const tenants = list("tenants:");
    const admins = list("administrators only:");
    const nobody = list("nobody");
    expect(new Set([...tenants, ...admins, ...nobody])).toEqual(new Set(OPERATIONS.map((op) => op.fdcs)));
    expect([...tenants].filter((name) => !byAccess(["tenant", "public"]).has(name))).toEqual([]);
    expect([...admins].filter((name) => !byAccess(["admin"]).has(name))).toEqual([]);
    expect([...nobody].filter((name) => !byAccess(["refused"]).has(name))).toEqual([]);
  });
});
