/**
 * tmpfs mounts live in memory, and an unsized one may grow to half the host's RAM. A container's
 * tmpfs mounts (`--tmpfs /run:size=16m`, `--mount type=tmpfs`) may together hold at most the
 * operator's limit (BERTH_TMPFS_MAX_MB); those given no size share what the sized ones leave.
 *
 * The options are read as the engine and the kernel read them, because what is checked must be
 * what runs: dockerd 20.10 (`mount.MergeTmpfsOptions`) keeps the last of each `key=value` option,
 * where it last appears, and the kernel applies `size=` and `nr_blocks=` (pages) in that order, so
 * the later of the two sets the size. Numbers are the kernel's `memparse` (k/m/g/t/p/e suffixes).
 * What this cannot read exactly (a `%` of the host's RAM, hexadecimal or octal numbers, options the
 * engine does not know, `bind`) is refused; the engine gets the options rewritten with one `size=`.
 */
import { badRequest } from "../http/errors.ts";
import { FieldRefusal } from "./fields.ts";

const PAGE_BYTES = 4096;
const MIB = 1024 * 1024;
const SUFFIXES: Record<string, number> = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50, e: 2 ** 60 };

/** Mount flags dockerd understands on a tmpfs (`mount.ParseOptions`), less bind and remount. */
const FLAGS = new Set([
  "defaults",
  "ro",
  "rw",
  "suid",
  "nosuid",
  "dev",
  "nodev",
  "exec",
  "noexec",
  "sync",
  "async",
  "dirsync",
  "mand",
  "nomand",
  "atime",
  "noatime",
  "diratime",
  "nodiratime",
  "relatime",
  "norelatime",
  "strictatime",
  "nostrictatime",
  "private",
  "rprivate",
  "shared",
  "rshared",
  "slave",
  "rslave",
  "unbindable",
  "runbindable",
]);
/** The `key=value` options dockerd passes to a tmpfs (its `validFlags`), less `mpol` (host NUMA policy). */
const SIZE_KEYS = new Set(["size", "nr_blocks"]);
const OTHER_KEYS = new Set(["mode", "uid", "gid", "nr_inodes"]);

/** A number as the kernel's memparse reads it, limited to the decimal spellings that cannot mislead. */
function memparse(value: string): number | undefined {
  const match = /^(0|[1-9]\d*)([kmgtpe]?)$/i.exec(value);
  return match ? Number(match[1]) * SUFFIXES[match[2]!.toLowerCase()]! : undefined;
}

const mb = (bytes: number) => Math.round((bytes / MIB) * 100) / 100;

/**
 * One `--tmpfs` entry's options: the size the kernel would give it (undefined when none is given)
 * and the other options, in the engine's order.
 */
export function parseTmpfsOptions(options: string, field: string): { sizeBytes?: number; others: string[] } {
  const others: string[] = [];
  let sizeBytes: number | undefined;
  for (const option of options
    .split(",")
    .map((o) => o.trim())
    .filter(Boolean)) {
    if (FLAGS.has(option)) {
      others.push(option);
      continue;
    }
    const [key, value] = option.split(/=(.*)/s) as [string, string | undefined];
    if (value === undefined || (!SIZE_KEYS.has(key) && !OTHER_KEYS.has(key))) throw new FieldRefusal(field, `the tmpfs option "${option}" is not available`);
    if (!SIZE_KEYS.has(key)) {
      if (key === "nr_inodes" && !memparse(value)) throw new FieldRefusal(field, `"${option}": give a number of inodes above 0 (0 is unlimited)`);
      others.push(option);
      continue;
    }
    const number = memparse(value);
    if (number === undefined) throw new FieldRefusal(field, `cannot read the tmpfs size "${option}" (give bytes or k, m, g)`);
    // Later options win, as the engine keeps the last of each key and the kernel applies them in order.
    sizeBytes = key === "size" ? Math.ceil(number / PAGE_BYTES) * PAGE_BYTES : number * PAGE_BYTES;
  }
  if (sizeBytes === 0) throw new FieldRefusal(field, "an unlimited tmpfs (size 0) is not allowed");
  return { sizeBytes, others };
}

/** SizeBytes of a `--mount type=tmpfs`, which the engine turns into `size=`. */
function mountSize(mount: Record<string, any>, field: string): number | undefined {
  const options = mount.TmpfsOptions as Record<string, unknown> | null | undefined;
  if (options === undefined || options === null) return undefined;
  if (typeof options !== "object" || Array.isArray(options)) throw badRequest(`${field} must be an object`);
  const unknown = Object.keys(options).find((key) => key !== "SizeBytes" && key !== "Mode");
  if (unknown !== undefined) throw badRequest(`unknown field ${field}.${unknown}`);
  const size = options.SizeBytes ?? 0;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) throw badRequest(`${field}.SizeBytes must be a whole number of bytes`);
  return size === 0 ? undefined : size;
}

interface TmpfsEntry {
  field: string;
  sizeBytes?: number;
  /** The entry as the engine gets it, with this size. */
  withSize(bytes: number): unknown;
}

/** The host config with every tmpfs sized, all of them together under `maxBytes`. */
export function limitTmpfs(hostConfig: Record<string, any>, maxBytes: number): Record<string, any> {
  const tmpfs = hostConfig.Tmpfs as Record<string, unknown> | null | undefined;
  if (tmpfs !== undefined && tmpfs !== null && (typeof tmpfs !== "object" || Array.isArray(tmpfs))) throw badRequest("HostConfig.Tmpfs must be an object");
  const tmpfsEntries = new Map<string, TmpfsEntry>(
    Object.entries(tmpfs ?? {}).map(([path, options]) => {
      const field = `HostConfig.Tmpfs["${path}"]`;
      if (typeof options !== "string") throw badRequest(`${field} must be a string of mount options`);
      const { sizeBytes, others } = parseTmpfsOptions(options, field);
      return [path, { field, sizeBytes, withSize: (bytes) => [...others, `size=${bytes}`].join(",") }];
    }),
  );
  const mounts = hostConfig.Mounts as Record<string, any>[] | null | undefined;
  const mountEntries = new Map<number, TmpfsEntry>();
  (mounts ?? []).forEach((mount, index) => {
    if (mount.Type !== "tmpfs") return;
    const field = `HostConfig.Mounts[${index}].TmpfsOptions`;
    const withSize = (bytes: number) => ({ ...mount, TmpfsOptions: { ...(mount.TmpfsOptions ?? {}), SizeBytes: bytes } });
    mountEntries.set(index, { field, sizeBytes: mountSize(mount, field), withSize });
  });
  const entries = [...tmpfsEntries.values(), ...mountEntries.values()];
  if (entries.length === 0) return hostConfig;

  const sized = entries.filter((entry) => entry.sizeBytes !== undefined);
  for (const entry of sized) {
    if (entry.sizeBytes! > maxBytes) throw new FieldRefusal(entry.field, `a tmpfs of ${mb(entry.sizeBytes!)} MB is over the limit of ${mb(maxBytes)} MB`);
  }
  const total = sized.reduce((sum, entry) => sum + entry.sizeBytes!, 0);
  if (total > maxBytes)
    throw new FieldRefusal(sized.at(-1)!.field, `the container's tmpfs mounts add up to ${mb(total)} MB, over the limit of ${mb(maxBytes)} MB`);
  // Those without a size share what is left, in whole megabytes.
  const unsized = entries.length - sized.length;
  const share = unsized === 0 ? 0 : Math.floor((maxBytes - total) / unsized / MIB) * MIB;
  if (unsized > 0 && share === 0) {
    throw new FieldRefusal(
      entries.find((entry) => entry.sizeBytes === undefined)!.field,
      `no room is left for this tmpfs: the container's tmpfs mounts may hold ${mb(maxBytes)} MB together`,
    );
  }
  const sizedEntry = (entry: TmpfsEntry) => entry.withSize(entry.sizeBytes ?? share);

  const limited: Record<string, any> = { ...hostConfig };
  if (tmpfs) limited.Tmpfs = Object.fromEntries([...tmpfsEntries].map(([path, entry]) => [path, sizedEntry(entry)]));
  if (mounts) limited.Mounts = mounts.map((mount, index) => (mountEntries.has(index) ? sizedEntry(mountEntries.get(index)!) : mount));
  return limited;
}
