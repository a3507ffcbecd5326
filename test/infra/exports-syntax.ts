/**
 * A strict reader of /etc/exports (exports(5), nfs-utils 2.6 as in Debian 12), for a machine
 * without exportfs. Stricter than exportfs, which warns and carries on: any doubt is an error.
 * It knows the classic mistakes: a space between a client and its options (which exports the
 * share read-write to the whole world), an option list with no client (the same), unknown or
 * contradictory options, a relative path.
 */
import { isIP } from "node:net";

export interface ExportEntry {
  path: string;
  clients: Array<{ host: string; options: string[] }>;
}

const FLAGS = new Set([
  "secure",
  "insecure",
  "rw",
  "ro",
  "async",
  "sync",
  "wdelay",
  "no_wdelay",
  "hide",
  "nohide",
  "crossmnt",
  "subtree_check",
  "no_subtree_check",
  "secure_locks",
  "insecure_locks",
  "auth_nlm",
  "no_auth_nlm",
  "root_squash",
  "no_root_squash",
  "all_squash",
  "no_all_squash",
  "pnfs",
  "no_pnfs",
  "security_label",
  "nordirplus",
]);
const VALUED = new Set(["fsid", "anonuid", "anongid", "sec", "refer", "replicas", "mountpoint", "mp"]);
const OPPOSITES: Array<[string, string]> = [
  ["rw", "ro"],
  ["sync", "async"],
  ["secure", "insecure"],
  ["root_squash", "no_root_squash"],
  ["all_squash", "no_all_squash"],
  ["subtree_check", "no_subtree_check"],
  ["hide", "nohide"],
  ["wdelay", "no_wdelay"],
];

function checkHost(host: string): string | undefined {
  if (host.startsWith("@")) return /^@[\w.-]+$/.test(host) ? undefined : `bad netgroup ${host}`;
  const [address, prefix, extra] = host.split("/");
  if (extra !== undefined) return `bad client ${host}`;
  if (isIP(address!) !== 0) {
    if (prefix === undefined) return undefined;
    const max = isIP(address!) === 4 ? 32 : 128;
    return /^\d+$/.test(prefix) && Number(prefix) <= max ? undefined : `bad prefix length in ${host}`;
  }
  if (prefix !== undefined) return `${host} has a prefix length but no IP address`;
  return /^[A-Za-z0-9*?.-]+$/.test(host) ? undefined : `bad host name ${host}`;
}

function checkOptions(options: string[]): string[] {
  const problems: string[] = [];
  for (const option of options) {
    const [name, value] = option.split("=", 2);
    if (value === undefined ? !FLAGS.has(name!) : !VALUED.has(name!) || value === "") problems.push(`unknown option "${option}"`);
  }
  for (const [a, b] of OPPOSITES) if (options.includes(a) && options.includes(b)) problems.push(`options ${a} and ${b} contradict each other`);
  return problems;
}

/** Parses the file; throws one error listing every problem with its line number. */
export function parseExports(text: string): ExportEntry[] {
  const entries: ExportEntry[] = [];
  const problems: string[] = [];
  const lines = text.replace(/\\\n/g, " ").split("\n");
  lines.forEach((raw, index) => {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") return;
    const where = `line ${index + 1}`;
    const fields = line.split(/\s+/);
    const path = fields.shift()!;
    if (!path.startsWith("/")) problems.push(`${where}: "${path}" is not an absolute path`);
    if (fields.length === 0) problems.push(`${where}: ${path} names no client (exported to the whole world)`);
    const clients: ExportEntry["clients"] = [];
    for (const field of fields) {
      const match = /^([^()]*)\(([^()]*)\)$/.exec(field);
      if (!match) {
        problems.push(`${where}: "${field}" is not client(options)${field.startsWith("(") ? "" : " (a space before the options exports them to the world)"}`);
        continue;
      }
      const [, host, options] = match;
      if (host === "") {
        problems.push(`${where}: "${field}" has options but no client (exported to the whole world)`);
        continue;
      }
      const hostProblem = checkHost(host!);
      if (hostProblem) problems.push(`${where}: ${hostProblem}`);
      const list = options!.split(",");
      problems.push(...checkOptions(list).map((problem) => `${where}: ${problem}`));
      clients.push({ host: host!, options: list });
    }
    entries.push({ path, clients });
  });
  if (problems.length > 0) throw new Error(`/etc/exports is not valid:\n${problems.join("\n")}`);
  return entries;
}
