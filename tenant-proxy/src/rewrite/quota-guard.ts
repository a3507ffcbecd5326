/**
 * Carries out creates, updates and starts under the tenant's quota. The limits and the arithmetic
 * are pure (policy/quota.ts); this is the effectful edge: it reads what the tenant's containers hold
 * from the engine (their sizes cached by id, since only an update changes them and updates come
 * through here), and runs each check together with its engine call in the tenant's queue, so no two
 * changes of one tenant can both pass a check that only one of them fits.
 */
import { LRUCache } from "lru-cache";
import { ENGINE_API, type TenantScope, passEngineError } from "../ownership.ts";
import { NO_USAGE, type QuotaFile, type QuotaLimits, TenantQueue, type Usage, checkSized, limitsFor, overQuota, quotaExcess } from "../policy/quota.ts";
import type { Upstream } from "../upstream/engine.ts";

interface Size {
  memory: number;
  nanoCpus: number;
}

export class QuotaGuard {
  private readonly queue = new TenantQueue();
  private readonly sizes = new LRUCache<string, Size>({ max: 50_000 });

  constructor(
    private readonly engine: Upstream,
    private readonly quota: QuotaFile | undefined,
  ) {}

  private limits(scope: TenantScope): QuotaLimits | undefined {
    return this.quota && limitsFor(this.quota, scope.tenant);
  }

  async create<T>(scope: TenantScope, hostConfig: Record<string, unknown>, work: () => Promise<T>): Promise<T> {
    const limits = this.limits(scope);
    if (!limits) return work();
    checkSized(limits, hostConfig.Memory, hostConfig.NanoCpus, hostConfig.CpuQuota);
    const request: Usage = { memory: Number(hostConfig.Memory ?? 0), nanoCpus: Number(hostConfig.NanoCpus ?? 0), containers: 1 };
    return this.queue.run(scope.tenant, async () => {
      const excess = quotaExcess(limits, await this.usage(scope), request);
      if (excess) throw overQuota(excess);
      return work();
    });
  }

  async update<T>(scope: TenantScope, id: string, update: Record<string, unknown>, work: () => Promise<T>): Promise<T> {
    const limits = this.limits(scope);
    if (!limits) return work().finally(() => this.sizes.delete(id));
    return this.queue.run(scope.tenant, async () => {
      const current = await this.size(id);
      const next: Size = {
        memory: update.Memory ? Number(update.Memory) : current.memory,
        nanoCpus: update.NanoCpus ? Number(update.NanoCpus) : current.nanoCpus,
      };
      checkSized(limits, next.memory, next.nanoCpus, update.CpuQuota);
      const usage = await this.usage(scope);
      const others: Usage = { memory: usage.memory - current.memory, nanoCpus: usage.nanoCpus - current.nanoCpus, containers: usage.containers };
      const excess = quotaExcess(limits, others, { ...next, containers: 0 });
      if (excess) throw overQuota(excess);
      try {
        return await work();
      } finally {
        this.sizes.delete(id);
      }
    });
  }

  /** A start counts against the quota too: the operator may have lowered it since the create. */
  async start<T>(scope: TenantScope, id: string, work: () => Promise<T>): Promise<T> {
    const limits = this.limits(scope);
    if (!limits) return work();
    return this.queue.run(scope.tenant, async () => {
      const [usage, own] = await Promise.all([this.usage(scope), this.size(id)]);
      const others: Usage = { memory: usage.memory - own.memory, nanoCpus: usage.nanoCpus - own.nanoCpus, containers: usage.containers - 1 };
      const excess = quotaExcess(limits, others, { ...own, containers: 1 });
      if (excess) throw overQuota(excess);
      return work();
    });
  }

  /** Everything the tenant's containers hold, read from the engine. */
  private async usage(scope: TenantScope): Promise<Usage> {
    const filters = encodeURIComponent(JSON.stringify({ label: [scope.ownerFilter()] }));
    const listed = await this.engine.json("GET", `${ENGINE_API}/containers/json?all=1&filters=${filters}`);
    if (listed.status !== 200) throw passEngineError(listed);
    const sizes = await Promise.all((listed.body as { Id: string }[]).map((container) => this.size(container.Id)));
    return sizes.reduce<Usage>(
      (total, size) => ({ memory: total.memory + size.memory, nanoCpus: total.nanoCpus + size.nanoCpus, containers: total.containers + 1 }),
      NO_USAGE,
    );
  }

  private async size(id: string): Promise<Size> {
    const cached = this.sizes.get(id);
    if (cached) return cached;
    const inspected = await this.engine.json("GET", `${ENGINE_API}/containers/${id}/json`);
    // A container removed meanwhile holds nothing.
    if (inspected.status === 404) return { memory: 0, nanoCpus: 0 };
    if (inspected.status !== 200) throw passEngineError(inspected);
    const size = { memory: Number(inspected.body.HostConfig?.Memory ?? 0), nanoCpus: Number(inspected.body.HostConfig?.NanoCpus ?? 0) };
    this.sizes.set(id, size);
    return size;
  }
}
