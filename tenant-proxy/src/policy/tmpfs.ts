/**
 * tmpfs mounts live in memory, and an unsized one may grow to half the host's RAM. Every tmpfs a
 * tenant asks for (`--tmpfs /run:size=16m` or `--mount type=tmpfs`) must fit under the operator's
 * limit (BERTH_TMPFS_MAX_MB); one without a size gets the limit as its size.
 */
import { FieldRefusal } from "./fields.ts";

const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Bytes of a tmpfs `size=` option (`64m`, `1g`, `65536`), or undefined if absent. */
export function tmpfsSize(options: string, field: string): number | undefined {
  const option = options.split(",").find((o) => o.trim().startsWith("size="));
  if (option === undefined) return undefined;
  const match = /^size=(\d+)([kmg]?)$/i.exec(option.trim());
  if (!match) throw new FieldRefusal(field, `cannot read the tmpfs size "${option}"`);
  return Number(match[1]) * UNITS[match[2]!.toLowerCase()]!;
}

const tooLarge = (field: string, bytes: number, max: number) =>
  new FieldRefusal(field, `a tmpfs of ${Math.round(bytes / 1024 ** 2)} MB is over the limit of ${Math.round(max / 1024 ** 2)} MB`);

export function limitTmpfs(hostConfig: Record<string, any>, maxBytes: number): Record<string, any> {
  const tmpfs = hostConfig.Tmpfs as Record<string, string> | null | undefined;
  const limitedTmpfs =
    tmpfs &&
    Object.fromEntries(
      Object.entries(tmpfs).map(([path, options]) => {
        const field = `HostConfig.Tmpfs["${path}"]`;
        const size = tmpfsSize(String(options ?? ""), field);
        if (size === undefined) return [path, [options, `size=${maxBytes}`].filter(Boolean).join(",")];
        if (size > maxBytes || size === 0) throw tooLarge(field, size, maxBytes);
        return [path, options];
      }),
    );
  const mounts = hostConfig.Mounts as Record<string, any>[] | null | undefined;
  const limitedMounts = mounts?.map((mount, index) => {
    if (mount.Type !== "tmpfs") return mount;
    const size = Number(mount.TmpfsOptions?.SizeBytes ?? 0);
    if (size > maxBytes) throw tooLarge(`HostConfig.Mounts[${index}].TmpfsOptions.SizeBytes`, size, maxBytes);
    return size > 0 ? mount : { ...mount, TmpfsOptions: { ...(mount.TmpfsOptions ?? {}), SizeBytes: maxBytes } };
  });
  return { ...hostConfig, ...(tmpfs ? { Tmpfs: limitedTmpfs } : {}), ...(mounts ? { Mounts: limitedMounts } : {}) };
}
