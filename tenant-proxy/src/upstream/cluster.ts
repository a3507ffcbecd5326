/**
 * The engines behind one endpoint. A single upstream (BERTH_UPSTREAM) is a cluster of one whose
 * node names stay out of sight; a nodes file (BERTH_NODES_FILE, FDCS's `/tmp/cluster.ips`: one
 * `host:port` per line, optionally preceded by a name) makes a classic-Swarm-style cluster whose
 * containers show as `node/name`. Nodes are checked in the background; one that stops answering is
 * marked down and comes back by itself when it answers again. Only the health check decides a
 * node's health: a call that fails or is slow on a node has the node checked at once, and fails
 * that call alone when the node is up (one tenant's slow `system df` must not take a node from
 * everyone). Each check also keeps the node's container list, so lists can still show a down
 * node's containers as classic Swarm did. Where each container and exec instance lives is
 * remembered, so later calls go straight to its node instead of asking every node every time.
 */
import { LRUCache } from "lru-cache";
import { Refusal } from "../http/errors.ts";
import { Engine, type Upstream, ENGINE_API, type UpstreamAddress } from "./engine.ts";

export interface NodeSpec {
  name: string;
  address: UpstreamAddress;
}

export interface ClusterNode {
  name: string;
  engine: Upstream;
  /** The address published ports are reached at (the node's host), when it has one. */
  host?: string;
  healthy: boolean;
  /** From the engine's `info`, refreshed by the health checks. */
  labels: Record<string, string>;
  memoryTotal: number;
  cpus: number;
  /**
   * Whether the engine manages a swarm (`info`'s Swarm.ControlAvailable). On the current engine
   * line tenants' overlays are attachable swarm networks, which only a manager makes and lists.
   */
  swarmManager: boolean;
  lastError?: string;
  /** Every container on the node (`containers/json?all=1`) as of the last successful check. */
  lastContainers: ContainerSummary[];
}

/** The fields of an engine's container list entry the proxy reads. */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  State?: string;
  Status?: string;
  Labels: Record<string, string> | null;
  [field: string]: unknown;
}

export interface FanOut<T> {
  answers: { node: ClusterNode; value: T }[];
  /** Nodes that were down or did not answer in time. */
  missing: string[];
  /** Nodes that answered with an error, or that are up but failed or were too slow with this call. */
  errors: { node: ClusterNode; error: unknown }[];
}

/** `name host:port` or `host:port` lines; blank lines and `#` comments are skipped. */
export function parseNodesFile(text: string): { name?: string; hostPort: string }[] {
  return text
    .split("\n")
    .map((line) => line.replace(/#.*/, "").trim())
    .filter(Boolean)
    .map((line) => {
      const parts = line.split(/\s+/);
      if (parts.length > 2) throw new Error(`cannot read the line "${line}": expected [name] host:port`);
      return parts.length === 2 ? { name: parts[0], hostPort: parts[1]! } : { hostPort: parts[0]! };
    });
}

export class Cluster {
  readonly nodes: ClusterNode[];
  private readonly locations = new LRUCache<string, string>({ max: 100_000 });
  private timer?: NodeJS.Timeout;
  /** The check running on each node, which a failed call waits for instead of starting another. */
  private readonly checks = new Map<ClusterNode, Promise<void>>();

  constructor(
    specs: readonly NodeSpec[],
    /** Whether tenants see node names (`docker-host-1/web`): true for a nodes file. */
    readonly named: boolean,
    private readonly options: { timeoutMs: number; healthIntervalMs: number; fanOutTimeoutMs: number },
  ) {
    this.nodes = specs.map((spec) => ({
      name: spec.name,
      engine: new Engine(spec.address, options.timeoutMs),
      host: spec.address.kind === "tcp" ? spec.address.host : undefined,
      healthy: true,
      labels: {},
      memoryTotal: 0,
      cpus: 0,
      swarmManager: false,
      lastContainers: [],
    }));
  }

  /** Checks every node now, then every interval. */
  async start(): Promise<void> {
    await this.checkAll();
    this.timer = setInterval(() => void this.checkAll(), this.options.healthIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    for (const node of this.nodes) node.engine.close();
  }

  private async checkAll(): Promise<void> {
    await Promise.all(this.nodes.map((node) => this.check(node)));
  }

  /** Checks a node now, or waits for the check already running on it. */
  private check(node: ClusterNode): Promise<void> {
    let running = this.checks.get(node);
    if (!running) {
      running = this.checkNow(node).finally(() => this.checks.delete(node));
      this.checks.set(node, running);
    }
    return running;
  }

  private async checkNow(node: ClusterNode): Promise<void> {
    const timeoutMs = this.options.fanOutTimeoutMs;
    try {
      const info = await withTimeout(node.engine.health(`${ENGINE_API}/info`, timeoutMs), timeoutMs);
      if (info.status !== 200) throw new Error(`info answered ${info.status}`);
      const containers = await withTimeout(node.engine.health(`${ENGINE_API}/containers/json?all=1`, timeoutMs), timeoutMs);
      if (containers.status !== 200) throw new Error(`the container list answered ${containers.status}`);
      node.lastContainers = containers.body as ContainerSummary[];
      node.labels = Object.fromEntries(((info.body.Labels as string[] | null) ?? []).map((label) => label.split(/=(.*)/s).slice(0, 2) as [string, string]));
      node.memoryTotal = Number(info.body.MemTotal ?? 0);
      node.cpus = Number(info.body.NCPU ?? 0);
      node.swarmManager = info.body.Swarm?.ControlAvailable === true;
      node.healthy = true;
      node.lastError = undefined;
    } catch (error) {
      this.markDown(node, error);
    }
  }

  private markDown(node: ClusterNode, error: unknown): void {
    node.healthy = false;
    node.lastError = (error as Error)?.message ?? String(error);
  }

  healthy(): ClusterNode[] {
    return this.nodes.filter((node) => node.healthy);
  }

  byName(name: string): ClusterNode | undefined {
    return this.nodes.find((node) => node.name === name);
  }

  /**
   * A healthy node for objects every node shares (overlay networks, images to inspect): a swarm
   * manager where the nodes form a swarm, since only managers make and list its networks.
   */
  any(): ClusterNode | undefined {
    const healthy = this.healthy();
    return healthy.find((node) => node.swarmManager) ?? healthy[0];
  }

  remember(id: string, node: ClusterNode): void {
    this.locations.set(id, node.name);
  }

  forget(id: string): void {
    this.locations.delete(id);
  }

  /** The node an id was last seen on, if remembered. */
  where(id: string): ClusterNode | undefined {
    const name = this.locations.get(id);
    return name === undefined ? undefined : this.byName(name);
  }

  /**
   * Runs `work` on every healthy node at once, each within the fan-out timeout. A node that does not
   * answer in time or cannot be reached is checked at once: when the check finds it down it is
   * missing from the answer, otherwise the call failed on an up node and is an error of this call.
   */
  async everywhere<T>(work: (node: ClusterNode) => Promise<T>): Promise<FanOut<T>> {
    const healthy = this.healthy();
    const settled = await Promise.allSettled(healthy.map((node) => withTimeout(work(node), this.options.fanOutTimeoutMs)));
    await Promise.all(settled.map((result, index) => (result.status === "rejected" && isUnavailable(result.reason) ? this.check(healthy[index]!) : undefined)));
    const fanOut: FanOut<T> = { answers: [], missing: [], errors: [] };
    settled.forEach((result, index) => {
      const node = healthy[index]!;
      if (result.status === "fulfilled") fanOut.answers.push({ node, value: result.value });
      else if (!isUnavailable(result.reason)) fanOut.errors.push({ node, error: result.reason });
      else if (!node.healthy) fanOut.missing.push(node.name);
      else fanOut.errors.push({ node, error: result.reason instanceof TimeoutError ? slowOn(node, this.options.fanOutTimeoutMs) : result.reason });
    });
    const asked = new Set(healthy);
    fanOut.missing.push(...this.nodes.filter((node) => !asked.has(node)).map((node) => node.name));
    return fanOut;
  }
}

/** Whether a node failed a call by not answering (in time) rather than by refusing it. */
export function isUnavailable(error: unknown): boolean {
  return (error as { reason?: string })?.reason === "engine-unavailable" || error instanceof TimeoutError;
}

class TimeoutError extends Error {}

const slowOn = (node: ClusterNode, ms: number): Refusal =>
  new Refusal(
    504,
    `the Docker engine ${node.name} did not answer this call within ${ms} ms (the node is up: the call itself is slow there); try again later`,
    "engine-unavailable",
    node.name,
  );

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
