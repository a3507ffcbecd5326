/**
 * How many calls each tenant (project) has in progress, and all tenants together. A call holds its
 * place from authentication until its answer has ended, whatever ends it (the engine, the client
 * hanging up, an error), so long streams (events, logs -f, stats, attach, exec, wait) hold theirs
 * for as long as they stream, and so do plain calls that are slow. One tenant can then hold at most
 * its own share of the engines' connections and the proxy's file descriptors, and all together at
 * most the total; a call past a limit is refused at once with a 429 instead of queueing.
 */
import { Refusal } from "./http/errors.ts";

export interface CallLimitSettings {
  /** Calls one tenant may have in progress at once. */
  perTenant: number;
  /** Calls all clients together may have in progress at once. */
  total: number;
}

/** Gives the place back; calling it again does nothing. */
export type Release = () => void;

export class CallLimits {
  private readonly byTenant = new Map<string, number>();
  private total = 0;

  constructor(private readonly limits: CallLimitSettings) {}

  /**
   * Takes a place for one call, or refuses it. `tenant` is undefined for the public calls (`_ping`,
   * `version`) that come before authentication: those count towards the total only.
   */
  enter(tenant: string | undefined): Release {
    const held = tenant === undefined ? 0 : (this.byTenant.get(tenant) ?? 0);
    if (tenant !== undefined && held >= this.limits.perTenant) {
      throw new Refusal(
        429,
        `too many calls in progress for your project: at most ${this.limits.perTenant} at once (streams such as events, logs -f, stats and attach count until they end)`,
        "too-many-calls",
      );
    }
    if (this.total >= this.limits.total) {
      throw new Refusal(429, "the service is busy: too many calls in progress from all projects; try again shortly", "too-many-calls");
    }
    this.total++;
    if (tenant !== undefined) this.byTenant.set(tenant, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      if (tenant === undefined) return;
      const left = (this.byTenant.get(tenant) ?? 1) - 1;
      if (left === 0) this.byTenant.delete(tenant);
      else this.byTenant.set(tenant, left);
    };
  }

  /** Calls in progress: of one tenant, or of everyone. */
  inProgress(tenant?: string): number {
    return tenant === undefined ? this.total : (this.byTenant.get(tenant) ?? 0);
  }
}
