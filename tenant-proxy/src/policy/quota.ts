/**
 * Quotas (FDCS SWARM_ENFORCE_QUOTA / SWARM_QUOTA_FILE). FDCS's file, `{"Memory": 300}` (megabytes,
 * one limit for every tenant), still works; berth adds `Containers` and `Cpus` limits and per-tenant
 * overrides under `tenants`. Every container a tenant has, running or not, holds its memory and
 * CPUs: usage is the cluster state's, rebuilt from the engines (restart-safe), and each check
 * reserves what it allows in the same step (rewrite/quota-guard.ts), so concurrent requests at the
 * edge can never add up to more than the quota. Under a memory or CPU quota a container must say how much it takes
 * (flavors do that for memory), or unlimited would be a way around it.
 */
import { z } from "zod";
import { Refusal } from "../http/errors.ts";
import { MIB } from "./flavors.ts";

const limitsSchema = z.strictObject({
  Memory: z.number().int().positive().optional(),
  Containers: z.number().int().positive().optional(),
  Cpus: z.number().positive().optional(),
});

export const quotaSchema = limitsSchema.extend({
  tenants: z.record(z.string().min(1), limitsSchema).optional(),
});

export type QuotaLimits = z.infer<typeof limitsSchema>;
export type QuotaFile = z.infer<typeof quotaSchema>;

/** What a tenant holds, or what a request adds: memory in bytes, CPUs in nano-CPUs. */
export interface Usage {
  memory: number;
  nanoCpus: number;
  containers: number;
}

export const NO_USAGE: Usage = { memory: 0, nanoCpus: 0, containers: 0 };

export function limitsFor(quota: QuotaFile, tenant: string): QuotaLimits {
  const { tenants, ...defaults } = quota;
  return { ...defaults, ...(tenants?.[tenant] ?? {}) };
}

export const overQuota = (message: string): Refusal => new Refusal(403, message, "quota");

/** Refuses a container without a size under a quota that counts that size. */
export function checkSized(limits: QuotaLimits, memory: unknown, nanoCpus: unknown, cpuQuota: unknown): void {
  if (limits.Memory !== undefined && !(typeof memory === "number" && memory > 0)) {
    throw overQuota(`a memory limit is required under this tenant's memory quota of ${limits.Memory} MB (docker run -m)`);
  }
  if (limits.Cpus !== undefined) {
    if (typeof cpuQuota === "number" && cpuQuota !== 0) throw overQuota("under a CPU quota, give CPUs with --cpus (NanoCpus), not CpuQuota");
    if (!(typeof nanoCpus === "number" && nanoCpus > 0))
      throw overQuota(`a CPU limit is required under this tenant's quota of ${limits.Cpus} CPUs (docker run --cpus)`);
  }
}

const mb = (bytes: number) => Math.round((bytes / MIB) * 100) / 100;
const cpus = (nano: number) => Math.round(nano / 1e7) / 100;

/** Why `usage` plus `request` would be over `limits`, saying the limit, the usage and the request. */
export function quotaExcess(limits: QuotaLimits, usage: Usage, request: Usage): string | undefined {
  const { Memory, Containers, Cpus } = limits;
  if (Memory !== undefined && usage.memory + request.memory > Memory * MIB) {
    return `memory quota exceeded: limit ${Memory} MB, in use ${mb(usage.memory)} MB, requested ${mb(request.memory)} MB`;
  }
  if (Containers !== undefined && usage.containers + request.containers > Containers) {
    return `container quota exceeded: limit ${Containers}, in use ${usage.containers}, requested ${request.containers}`;
  }
  if (Cpus !== undefined && usage.nanoCpus + request.nanoCpus > Cpus * 1e9) {
    return `CPU quota exceeded: limit ${Cpus} CPUs, in use ${cpus(usage.nanoCpus)}, requested ${cpus(request.nanoCpus)}`;
  }
  return undefined;
}

/** Runs one change at a time per tenant (renames, whose names must stay unique across nodes). */
export class TenantQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(tenant: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(tenant) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.tails.set(tenant, next);
    void next
      .finally(() => {
        if (this.tails.get(tenant) === next) this.tails.delete(tenant);
      })
      .catch(() => undefined);
    return next;
  }
}
