/**
 * How many calls each tenant (project) has in progress, each user across all its projects, and all
 * clients together. A call holds its place from authentication until its answer has ended, whatever
 * ends it (the engine, the client hanging up, an error), so long streams (events, logs -f, stats,
 * attach, exec, wait) hold theirs for as long as they stream, and so do plain calls that are slow.
 * One tenant can then hold at most its own share of the engines' connections and the proxy's file
 * descriptors, and all together at most the total; a call past a limit is refused at once with a
 * 429 instead of queueing. A user who is a member of several projects gets one share, not one per
 * project: otherwise one person could take the whole total with a handful of projects.
 */
import { Refusal } from "./http/errors.ts";

export interface CallLimitSettings {
  /** Calls one tenant, and one user across its projects, may have in progress at once. */
  perTenant: number;
  /** Calls all clients together may have in progress at once. */
  total: number;
}

/** Who makes a call: undefined for the public calls (`_ping`, `version`) that come before authentication. */
export interface Caller {
  tenant: string;
  user: string;
}

/** Gives the place back; calling it again does nothing. */
export type Release = () => void;

const STREAMS_COUNT = "streams such as events, logs -f, stats and attach count until they end";

export class CallLimits {
  private readonly held = new Map<string, number>();
  private total = 0;

  constructor(private readonly limits: CallLimitSettings) {}

  /** Takes a place for one call, or refuses it. Public calls count towards the total only. */
  enter(caller: Caller | undefined): Release {
    const keys = caller === undefined ? [] : [`tenant:${caller.tenant}`, `user:${caller.user}`];
    if (caller !== undefined && this.count(keys[0]!) >= this.limits.perTenant) {
      throw new Refusal(429, `too many calls in progress for your project: at most ${this.limits.perTenant} at once (${STREAMS_COUNT})`, "too-many-calls");
    }
    if (caller !== undefined && this.count(keys[1]!) >= this.limits.perTenant) {
      throw new Refusal(429, `too many calls in progress for you, across your projects: at most ${this.limits.perTenant} at once (${STREAMS_COUNT})`, "too-many-calls");
    }
    if (this.total >= this.limits.total) {
      throw new Refusal(429, "the service is busy: too many calls in progress from all projects; try again shortly", "too-many-calls");
    }
    this.total++;
    for (const key of keys) this.held.set(key, this.count(key) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      for (const key of keys) {
        const left = this.count(key) - 1;
        if (left <= 0) this.held.delete(key);
        else this.held.set(key, left);
      }
    };
  }

  /** Calls in progress: of one tenant, or of everyone. */
  inProgress(tenant?: string): number {
    return tenant === undefined ? this.total : this.count(`tenant:${tenant}`);
  }

  private count(key: string): number {
    return this.held.get(key) ?? 0;
  }
}
