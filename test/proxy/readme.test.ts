/**
 * tenant-proxy/README.md is the settings reference and the list of FDCS operation names: it is
 * checked against the settings table and the operations table, so neither can change without it.
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { OPERATIONS } from "../../tenant-proxy/src/operations.ts";
import { SETTINGS, type Setting, settingNamed } from "../../tenant-proxy/src/settings-table.ts";

const README = readFileSync(new URL("../../tenant-proxy/README.md", import.meta.url), "utf8");
const TABLE: Array<Setting<unknown>> = Object.values(SETTINGS);

const VARIABLE = /\b(?:BERTH|SWARM)_[A-Z0-9_]+\b/g;
const namesIn = (text: string): string[] => text.match(VARIABLE) ?? [];
const quoted = (text: string): string[] => [...text.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);

/** The section under a heading, up to the next heading of the same or a higher level. */
function section(heading: string): string {
  const start = README.indexOf(`\n${heading}\n`);
  if (start === -1) throw new Error(`tenant-proxy/README.md has no "${heading}"`);
  const level = heading.match(/^#+/)![0];
  const rest = README.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`\\n#{1,${level.length}} `));
  return end === -1 ? rest : rest.slice(0, end);
}

/** The settings tables' rows: the variables of the first column and the last column, the default. */
const ROWS = README.split("\n")
  .filter((line) => line.startsWith("| `"))
  .map((line) => {
    const cells = line.split(" | ");
    return { line, variables: namesIn(cells[0]!), defaults: cells.at(-1)!.replace(/ \|$/, "") };
  });

describe("tenant-proxy/README.md: the settings reference", () => {
  it("gives every setting of the table a row, and names its other name", () => {
    const rowless = TABLE.filter((setting) => !ROWS.some((row) => row.variables.includes(setting.env))).map((setting) => setting.env);
    expect(rowless).toEqual([]);
    const aliases = TABLE.flatMap((setting) => (setting.alias ? [setting.alias] : []));
    expect(aliases.filter((alias) => !new RegExp(`\`${alias}[\`=]`).test(README))).toEqual([]);
  });

  it("documents no variable the table does not have", () => {
    expect(ROWS.flatMap((row) => row.variables).filter((name) => settingNamed(name) === undefined)).toEqual([]);
  });

  // A row's default cell quotes the defaults of its settings in order (`30`, `10000`), and nothing
  // else in backquotes, or, for a default too long for a cell, says where it is written ("see ...").
  it("gives each setting the table's default", () => {
    const wrong = ROWS.flatMap((row) => {
      const settings = [...new Set(row.variables.map((name) => settingNamed(name)!))].map((key) => SETTINGS[key] as Setting<unknown>);
      const defaults = settings.flatMap((setting) => (setting.default === undefined ? [] : [setting.default]));
      const agrees = /\bsee\b/.test(row.defaults)
        ? defaults.every((value) => README.includes(`\`${value}\``))
        : JSON.stringify(quoted(row.defaults)) === JSON.stringify(defaults);
      return agrees ? [] : [`${row.variables.join(", ")}: the table says ${JSON.stringify(defaults)}, the README "${row.defaults}"`];
    });
    expect(wrong).toEqual([]);
  });
});

describe("the settings table is where the variables are named", () => {
  const SOURCES = new URL("../../tenant-proxy/src/", import.meta.url);
  it("no other source of the proxy spells a variable's name in a string", () => {
    const files = readdirSync(SOURCES, { recursive: true, encoding: "utf8" }).filter((path) => path.endsWith(".ts") && path !== "settings-table.ts");
    const spelt = files.filter((path) => /["'`](?:BERTH|SWARM)_[A-Z0-9_]+/.test(readFileSync(new URL(path, SOURCES), "utf8")));
    expect(spelt).toEqual([]);
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
