/**
 * The engine line (`berth:engineLine`): which Docker the nodes run, and so how overlay networks
 * span them. One choice for the whole stack:
 *
 * - `20.10`: Debian 12's docker.io 20.10, the engine FDCS ran. Overlay networks go through etcd
 *   (`--cluster-store`), so the stack has an etcd VM. Docker removed the cluster store in 23.0, and
 *   20.10's upstream support ended in 2023.
 * - `current`: Debian 13's docker.io (26.1). The nodes form a swarm whose only manager is the first
 *   node; the proxy makes tenant networks attachable swarm overlays and keeps scheduling plain
 *   containers itself. No etcd VM.
 */
import { z } from "zod";

export const ENGINE_LINES = ["20.10", "current"] as const;
export type EngineLine = (typeof ENGINE_LINES)[number];

export interface EngineLineDefaults {
  /** The Glance image every VM boots unless the stack names one (berth:image). */
  image: string;
  /** The docker.io version pattern apt is pinned to unless the stack names one (berth:dockerVersion). */
  dockerVersion: string;
}

export const ENGINE_LINE_DEFAULTS: Record<EngineLine, EngineLineDefaults> = {
  "20.10": { image: "debian-12", dockerVersion: "20.10.*" },
  current: { image: "debian-13", dockerVersion: "26.1.*" },
};

/**
 * YAML reads an unquoted 20.10 as the number 20.1, and Pulumi hands it over as "20.1": the error
 * says to quote it rather than leaving the operator to wonder where the 0 went.
 */
export const engineLineSchema = z.enum(ENGINE_LINES, {
  error: (issue) =>
    issue.input === "20.1" || issue.input === 20.1
      ? `got 20.1: YAML reads an unquoted 20.10 as a number; write "20.10" in quotes`
      : `expected "20.10" (Docker 20.10 on Debian 12, overlays through etcd) or "current" (Debian 13's Docker, overlays through a swarm)`,
});

/**
 * Whether a docker.io version pattern belongs to the line: 20.10 on the 20.10 line (the cluster
 * store), 23 or later on the current line (a swarm's attachable overlays). Patterns are apt's
 * (`26.1.*`, `26.1.5+dfsg1-9`): only their leading major.minor is read.
 */
export function dockerVersionProblem(line: EngineLine, version: string): string | undefined {
  const major = Number(/^(\d+)\./.exec(version)?.[1]);
  const is2010 = /^20\.10([.+~*-]|$)/.test(version);
  if (line === "20.10" && !is2010)
    return `the 20.10 line needs Docker 20.10 (Docker 23 removed --cluster-store, which its overlays use): pin a 20.10 version (e.g. 20.10.*), or set berth:engineLine to current`;
  if (line === "current" && !(major >= 23))
    return `the current line needs Docker 23 or later (attachable swarm overlays without --cluster-store): pin e.g. 26.1.*, Debian 13's docker.io, or set berth:engineLine to "20.10"`;
  return undefined;
}
