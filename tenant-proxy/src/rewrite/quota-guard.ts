/**
 * Carries out creates, renames, updates and starts one at a time per tenant, within its quota.
 * The limits and the arithmetic are pure (policy/quota.ts); this is the effectful edge: it reads
 * what the tenant's containers hold from every node (sizes cached by id), and runs each check
 * together with its engine calls in the tenant's queue, so no two changes of one tenant can both
 * pass a check that only one of them fits — and no two creates on different nodes can both take
 * the same name.
 */
import type { Scope } from "../ownership.ts";
import { tenantPortsExcess } from "../policy/ports.ts";
import { NO_USAGE, type QuotaFile, type QuotaLimits, TenantQueue, type Usage, checkSized, limitsFor, overQuota, quotaExcess } from "../policy/quota.ts";
import { type Cluster, type ClusterNode, isUnavailable } from "../upstream/cluster.ts";
import type { Size, Sizes } from "../upstream/node-state.ts";
import { ENGINE_API, passEngineError } from "../upstream/engine.ts";

export class QuotaGuard {
  private readonly queue = new TenantQueue();

  constructor(
    private readonly cluster: Cluster,
    private readonly sizes: Sizes,
    private readonly quota: QuotaFile | undefined,
  ) {}

  private limits(scope: Scope): QuotaLimits | undefined {
    return this.quota && scope.tenant !== undefined ? limitsFor(this.quota, scope.tenant) : undefined;
  }

  /** Runs `work` alone among the caller's changes (names must be unique across nodes). */
  exclusive<T>(scope: Scope, work: () => Promise<T>): Promise<T> {
    return this.queue.run(scope.tenant ?? "*", work);
  }

  async create<T>(scope: Scope, hostConfig: Record<string, unknown>, work: () => Promise<T>): Promise<T> {
    const limits = this.limits(scope);
    if (limits) checkSized(limits, hostConfig.Memory, hostConfig.NanoCpus, hostConfig.CpuQuota);
    const request: Usage = { memory: Number(hostConfig.Memory ?? 0), nanoCpus: Number(hostConfig.NanoCpus ?? 0), containers: 1 };
    return this.exclusive(scope, async () => {
      if (limits) {
        const excess = quotaExcess(limits, await this.usage(scope), request);
        if (excess) throw overQuota(excess);
      }
      return work();
    });
  }

  async update<T>(scope: Scope, node: ClusterNode, id: string, update: Record<string, unknown>, work: () => Promise<T>): Promise<T> {
    const limits = this.limits(scope);
    return this.exclusive(scope, async () => {
      if (limits) {
        const current = await this.sizes.of(node, id);
        const next = {
          memory: update.Memory ? Number(update.Memory) : current.memory,
          nanoCpus: update.NanoCpus ? Number(update.NanoCpus) : current.nanoCpus,
        };
        checkSized(limits, next.memory, next.nanoCpus, update.CpuQuota);
        const usage = await this.usage(scope);
        const others: Usage = { memory: usage.memory - current.memory, nanoCpus: usage.nanoCpus - current.nanoCpus, containers: usage.containers };
        const excess = quotaExcess(limits, others, { ...next, containers: 0 });
        if (excess) throw overQuota(excess);
      }
      try {
        return await work();
      } finally {
        this.sizes.forget(id);
      }
    });
  }

  /** A start counts against the quota too: the operator may have lowered it since the create. */
  async start<T>(scope: Scope, node: ClusterNode, id: string, work: () => Promise<T>): Promise<T> {
    const limits = this.limits(scope);
    if (!limits) return work();
    return this.exclusive(scope, async () => {
      const [usage, own] = await Promise.all([this.usage(scope), this.sizes.of(node, id)]);
      const others: Usage = { memory: usage.memory - own.memory, nanoCpus: usage.nanoCpus - own.nanoCpus, containers: usage.containers - 1 };
      const excess = quotaExcess(limits, others, { ...own, containers: 1 });
      if (excess) throw overQuota(excess);
      return work();
    });
  }

  /**
   * Refuses a new container's published ports over the tenant's limit. Call it inside `create`'s
   * work (the tenant's queue), once the image says how many ports `-P` publishes.
   */
  async checkTenantPorts(scope: Scope, requested: number, max: number): Promise<void> {
    if (requested === 0 || scope.tenant === undefined) return;
    const inUse = (await this.held(scope)).reduce((sum, size) => sum + size.publishedPorts, 0);
    const excess = tenantPortsExcess(max, inUse, requested);
    if (excess) throw overQuota(excess);
  }

  private async usage(scope: Scope): Promise<Usage> {
    return (await this.held(scope)).reduce<Usage>(
      (total, size) => ({ memory: total.memory + size.memory, nanoCpus: total.nanoCpus + size.nanoCpus, containers: total.containers + 1 }),
      NO_USAGE,
    );
  }

  /**
   * What each of the tenant's containers holds on every node, read from the engines. A node that is
   * down counts with what it held when last read, so creates can go on elsewhere without the
   * tenant getting more than its quota when the node comes back (after a proxy restart, a node
   * down since then counts as empty: the one thing that is not read back from the engines).
   */
  private async held(scope: Scope): Promise<Size[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: [scope.ownerFilter()] }));
    const { answers, missing, errors } = await this.cluster.everywhere(async (node) => {
      const listed = await node.engine.json("GET", `${ENGINE_API}/containers/json?all=1&filters=${filters}`);
      if (listed.status !== 200) throw passEngineError(listed);
      return Promise.all((listed.body as { Id: string }[]).map((container) => this.sizes.of(node, container.Id)));
    });
    const refused = errors.find((failed) => !isUnavailable(failed.error));
    if (refused) throw refused.error;
    // A node that is up but too slow for this call counts like one that is down.
    const unread = [...missing, ...errors.map((failed) => failed.node.name)];
    const held = [
      ...answers.map(({ node, value }) => {
        this.lastRead.set(`${node.name}:${scope.tenant}`, value);
        return value;
      }),
      ...unread.map((name) => this.lastRead.get(`${name}:${scope.tenant}`) ?? []),
    ];
    return held.flat();
  }

  private readonly lastRead = new Map<string, Size[]>();
}
