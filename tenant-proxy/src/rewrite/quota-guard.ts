/**
 * Keeps creates, updates and starts within the tenant's quota. The limits and the arithmetic are
 * pure (policy/quota.ts); what the tenant holds is the cluster state's (upstream/node-state.ts):
 * its containers on every node plus what is reserved for changes on their way to an engine. Each
 * check and its reservation happen in one synchronous step, so no two changes of one tenant can
 * both pass a check that only one of them fits, while the engine calls themselves run concurrently.
 * Renames, which need no quota but unique names across nodes, still run one at a time per tenant.
 */
import type { Scope } from "../ownership.ts";
import { tenantPortsExcess } from "../policy/ports.ts";
import { type QuotaFile, type QuotaLimits, TenantQueue, type Usage, checkSized, limitsFor, overQuota, quotaExcess } from "../policy/quota.ts";
import { type ClusterNode, isUnavailable } from "../upstream/cluster.ts";
import type { JsonAnswer } from "../upstream/engine.ts";
import type { ClusterState, Reservation } from "../upstream/node-state.ts";

export class QuotaGuard {
  private readonly queue = new TenantQueue();

  constructor(
    readonly state: ClusterState,
    private readonly quota: QuotaFile | undefined,
  ) {}

  private limits(scope: Scope): QuotaLimits | undefined {
    return this.quota && scope.tenant !== undefined ? limitsFor(this.quota, scope.tenant) : undefined;
  }

  /** Runs `work` alone among the caller's renames (names must be unique across nodes). */
  exclusive<T>(scope: Scope, work: () => Promise<T>): Promise<T> {
    return this.queue.run(scope.tenant ?? "*", work);
  }

  /** Refuses a container without a size under a quota that counts that size (before any state is read). */
  checkCreateSized(scope: Scope, hostConfig: Record<string, unknown>): void {
    const limits = this.limits(scope);
    if (limits) checkSized(limits, hostConfig.Memory, hostConfig.NanoCpus, hostConfig.CpuQuota);
  }

  /**
   * Waits for what the tenant's quota checks read: every healthy node listed, and the sizes of the
   * tenant's containers when the quota counts memory or CPUs.
   */
  async ready(scope: Scope): Promise<void> {
    await this.state.whenReady();
    const limits = this.limits(scope);
    if (limits && scope.tenant !== undefined && (limits.Memory !== undefined || limits.Cpus !== undefined)) await this.state.sizeTenant(scope.tenant);
  }

  /**
   * Checks a create against the quota and reserves what it takes on `node`, in one step: call it
   * after `ready`, with nothing awaited in between.
   */
  reserveCreate(scope: Scope, hostConfig: Record<string, unknown>, node: string, hostPorts: string[], engineName: string | undefined): Reservation {
    const request: Usage = { memory: Number(hostConfig.Memory ?? 0), nanoCpus: Number(hostConfig.NanoCpus ?? 0), containers: 1 };
    const limits = this.limits(scope);
    if (limits && scope.tenant !== undefined) {
      const excess = quotaExcess(limits, this.state.usage(scope.tenant), request);
      if (excess) throw overQuota(excess);
    }
    return this.state.reserve({ ...request, tenant: scope.tenant, node, publishedPorts: 0, hostPorts, engineName });
  }

  /**
   * Refuses a new container's published ports over the tenant's limit, and reserves them: once
   * the image says how many ports `-P` publishes.
   */
  async reservePorts(scope: Scope, reservation: Reservation, requested: number, max: number): Promise<void> {
    if (requested === 0 || scope.tenant === undefined) return;
    await this.state.sizeTenant(scope.tenant);
    const excess = tenantPortsExcess(max, this.state.usage(scope.tenant).publishedPorts, requested);
    if (excess) throw overQuota(excess);
    reservation.publishedPorts = requested;
  }

  /** Settles a create's reservation on the engine's answer, or on its failure to give one. */
  async settleCreate(reservation: Reservation, create: () => Promise<JsonAnswer>): Promise<JsonAnswer> {
    let created: JsonAnswer;
    try {
      created = await create();
    } catch (error) {
      if (isUnavailable(error)) this.state.unanswered(reservation);
      else this.state.release(reservation);
      throw error;
    }
    if (created.status === 201) this.state.commit(reservation, created.body.Id, reservation.engineName);
    else this.state.release(reservation);
    return created;
  }

  async update(scope: Scope, node: ClusterNode, id: string, update: Record<string, unknown>, work: () => Promise<JsonAnswer>): Promise<JsonAnswer> {
    await this.ready(scope);
    const current = await this.state.sizeOf(node, id);
    const next = {
      memory: update.Memory ? Number(update.Memory) : current.memory,
      nanoCpus: update.NanoCpus ? Number(update.NanoCpus) : current.nanoCpus,
    };
    const limits = this.limits(scope);
    if (limits && scope.tenant !== undefined) {
      checkSized(limits, next.memory, next.nanoCpus, update.CpuQuota);
      const usage = this.state.usage(scope.tenant);
      const others: Usage = { memory: usage.memory - current.memory, nanoCpus: usage.nanoCpus - current.nanoCpus, containers: usage.containers };
      const excess = quotaExcess(limits, others, { ...next, containers: 0 });
      if (excess) throw overQuota(excess);
    }
    // What the update adds is held until the engine answers; what it frees, only once it has.
    const growth = this.state.reserve({
      tenant: scope.tenant,
      node: node.name,
      memory: Math.max(0, next.memory - current.memory),
      nanoCpus: Math.max(0, next.nanoCpus - current.nanoCpus),
      containers: 0,
      publishedPorts: 0,
      hostPorts: [],
    });
    try {
      const answer = await work();
      if (answer.status === 200) this.state.resized(node, id, next, true);
      return answer;
    } catch (error) {
      this.state.resized(node, id, next, false);
      throw error;
    } finally {
      this.state.release(growth);
    }
  }

  /** A start counts against the quota too: the operator may have lowered it since the create. */
  async start<T>(scope: Scope, node: ClusterNode, id: string, work: () => Promise<T>): Promise<T> {
    const limits = this.limits(scope);
    if (!limits || scope.tenant === undefined) return work();
    await this.ready(scope);
    const own = await this.state.sizeOf(node, id);
    const usage = this.state.usage(scope.tenant);
    const others: Usage = { memory: usage.memory - own.memory, nanoCpus: usage.nanoCpus - own.nanoCpus, containers: usage.containers - 1 };
    const excess = quotaExcess(limits, others, { ...own, containers: 1 });
    if (excess) throw overQuota(excess);
    return work();
  }
}
