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
import { Places, type Release } from "./places.ts";

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

const STREAMS_COUNT = "streams such as events, logs -f, stats and attach count until they end";

export class CallLimits {
  private readonly places: Places;

  constructor(private readonly limits: CallLimitSettings) {
    this.places = new Places(
      limits.total,
      () => new Refusal(429, "the service is busy: too many calls in progress from all projects; try again shortly", "too-many-calls"),
    );
  }

  /** Takes a place for one call, or refuses it. Public calls count towards the total only. */
  enter(caller: Caller | undefined): Release {
    if (caller === undefined) return this.places.take([]);
    const max = this.limits.perTenant;
    return this.places.take([
      {
        key: `tenant:${caller.tenant}`,
        max,
        refusal: () => new Refusal(429, `too many calls in progress for your project: at most ${max} at once (${STREAMS_COUNT})`, "too-many-calls"),
      },
      {
        key: `user:${caller.user}`,
        max,
        refusal: () =>
          new Refusal(429, `too many calls in progress for you, across your projects: at most ${max} at once (${STREAMS_COUNT})`, "too-many-calls"),
      },
    ]);
  }

  /** Calls in progress: of one tenant, or of everyone. */
  inProgress(tenant?: string): number {
    return this.places.count(tenant === undefined ? undefined : `tenant:${tenant}`);
  }
}
