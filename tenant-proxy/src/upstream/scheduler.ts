/**
 * Where a new container goes, decided as classic Swarm did and as a pure function of what the nodes
 * hold. Filters first: the node must be healthy, have room for the container's memory (the flavor's
 * memory is a reservation), have every fixed host port free, and satisfy the constraints and
 * affinities clients write the classic way — `-e constraint:node==docker-host-2`,
 * `-e constraint:storage==ssd` (engine labels), `-e affinity:container==web`,
 * `-e affinity:image==busybox`, with `!=` for "not", `~` for "if possible", and `*`/regex values.
 * Then a strategy ranks what is left: spread (fewest containers, the default), binpack (the most
 * reserved memory that still fits) or random.
 */
import { parseJson } from "../http/request.ts";

export type Strategy = "spread" | "binpack" | "random";

export interface NodeState {
  name: string;
  healthy: boolean;
  /** Engine labels (`dockerd --label`), plus `node` for the name. */
  labels: Record<string, string>;
  memoryTotal: number;
  /** Memory reserved by the containers on the node (their limits), in bytes. */
  memoryReserved: number;
  containers: number;
  /** Host ports in use, as "port/proto". */
  usedPorts: ReadonlySet<string>;
  /** Image references and ids present on the node. */
  images: ReadonlySet<string>;
  /** Engine names and ids of the tenant's containers on the node, for container affinities. */
  tenantContainers: ReadonlySet<string>;
}

export interface Placement {
  memory: number;
  hostPorts: readonly string[];
  rules: readonly Rule[];
}

export interface Rule {
  kind: "constraint" | "affinity";
  key: string;
  operator: "==" | "!=";
  value: string;
  soft: boolean;
}

const RULE = /^(constraint|affinity):([A-Za-z0-9_.\-/]+)(==|!=)(~?)(.+)$/;

/** Rules from `constraint:`/`affinity:` environment entries and classic Swarm's labels. */
export function placementRules(env: readonly string[] | null | undefined, labels: Record<string, string> | null | undefined): Rule[] {
  const written = [...(env ?? [])];
  for (const [label, kind] of [
    ["com.docker.swarm.constraints", "constraint"],
    ["com.docker.swarm.affinities", "affinity"],
  ] as const) {
    const raw = labels?.[label];
    if (raw === undefined) continue;
    let list: unknown;
    try {
      list = parseJson(raw);
    } catch {
      throw new Error(`label ${label} must be a JSON list such as ["node==docker-host-1"]`);
    }
    if (!Array.isArray(list)) throw new Error(`label ${label} must be a JSON list`);
    written.push(...list.map((item) => `${kind}:${String(item)}`));
  }
  return written.flatMap((entry) => {
    if (!/^(constraint|affinity):/.test(entry)) return [];
    const match = RULE.exec(entry);
    if (!match) throw new Error(`cannot read the placement rule "${entry}" (e.g. constraint:node==docker-host-1)`);
    const [, kind, key, operator, soft, value] = match;
    if (kind === "affinity" && key !== "container" && key !== "image") throw new Error(`affinities are on container or image, not "${key}"`);
    return [{ kind: kind as Rule["kind"], key: key!, operator: operator as Rule["operator"], value: value!, soft: soft === "~" }];
  });
}

/** Classic Swarm values: exact, `*` globs, or `/regex/`. */
function matcher(value: string): (candidate: string) => boolean {
  if (value.length > 2 && value.startsWith("/") && value.endsWith("/")) {
    const source = value.slice(1, -1);
    if (!/^[A-Za-z0-9_.\-*^$|?+[\]]*$/.test(source) || /[+*?]\)?[+*]/.test(source)) throw new Error(`unsupported pattern ${value}`);
    const regex = new RegExp(`^(?:${source})$`);
    return (candidate) => regex.test(candidate);
  }
  if (value.includes("*")) {
    const regex = new RegExp(
      `^${value
        .split("*")
        .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
        .join(".*")}$`,
    );
    return (candidate) => regex.test(candidate);
  }
  return (candidate) => candidate === value;
}

function satisfies(node: NodeState, rule: Rule): boolean {
  const matches = matcher(rule.value);
  let found: boolean;
  if (rule.kind === "constraint") {
    const actual = rule.key === "node" ? node.name : Object.hasOwn(node.labels, rule.key) ? node.labels[rule.key] : undefined;
    found = actual !== undefined && matches(actual);
  } else if (rule.key === "container") {
    found = [...node.tenantContainers].some(matches);
  } else {
    found = [...node.images].some(matches);
  }
  return rule.operator === "==" ? found : !found;
}

export interface Decision {
  node?: string;
  /** Why no node fits, for the tenant's error message. */
  reason?: string;
}

function rank(nodes: NodeState[], strategy: Strategy, random: () => number): NodeState {
  if (strategy === "random") return nodes[Math.floor(random() * nodes.length)]!;
  const sorted = [...nodes].sort((a, b) =>
    strategy === "spread"
      ? a.containers - b.containers || a.memoryReserved - b.memoryReserved || a.name.localeCompare(b.name)
      : b.memoryReserved - a.memoryReserved || b.containers - a.containers || a.name.localeCompare(b.name),
  );
  return sorted[0]!;
}

export function schedule(placement: Placement, nodes: readonly NodeState[], strategy: Strategy, random: () => number = Math.random): Decision {
  let candidates = nodes.filter((node) => node.healthy);
  if (candidates.length === 0) return { reason: "no node is available" };
  const narrow = (keep: (node: NodeState) => boolean, why: string): string | undefined => {
    const kept = candidates.filter(keep);
    if (kept.length === 0) return why;
    candidates = kept;
    return undefined;
  };
  const failures = [
    narrow(
      (n) => placement.memory === 0 || n.memoryTotal - n.memoryReserved >= placement.memory,
      `no node has ${Math.round(placement.memory / 2 ** 20)} MB of memory free`,
    ),
    narrow(
      (n) => placement.hostPorts.every((port) => !n.usedPorts.has(port)),
      `host port ${placement.hostPorts.join(", ")} is taken on every node that could take the container`,
    ),
    ...placement.rules
      .filter((rule) => !rule.soft)
      .map((rule) => narrow((n) => satisfies(n, rule), `no node satisfies ${rule.kind}:${rule.key}${rule.operator}${rule.value}`)),
  ];
  const failure = failures.find((f) => f !== undefined);
  if (failure) return { reason: failure };
  for (const rule of placement.rules.filter((r) => r.soft)) {
    const preferred = candidates.filter((n) => satisfies(n, rule));
    if (preferred.length > 0) candidates = preferred;
  }
  return { node: rank(candidates, strategy, random).name };
}
