/**
 * How many Keystone lookups may run at once: per client address and in all. A token the proxy has
 * not seen costs Keystone one or two requests, and anyone can send tokens it has never seen, so
 * without a bound one client could keep Keystone too busy to answer anyone (the attacker's pass
 * measured 503s for everyone from 30 random tokens at once). Tokens already known come from the
 * cache and need no place, so tenants at work are not slowed by a flood.
 */
import { Refusal } from "../http/errors.ts";
import { Places, type Release } from "../places.ts";

export interface LookupLimits {
  /** BERTH_KEYSTONE_MAX_LOOKUPS: lookups in progress from all clients together. */
  total: number;
  /** BERTH_KEYSTONE_MAX_LOOKUPS_PER_ADDRESS: lookups in progress from one client address. */
  perAddress: number;
}

export class LookupSlots {
  private readonly places: Places;

  constructor(private readonly limits: LookupLimits) {
    this.places = new Places(
      limits.total,
      () => new Refusal(429, "the service is busy: too many token checks in progress; try again shortly", "too-many-calls"),
    );
  }

  /** Takes a place for a lookup from `address`, or refuses with a 429; the returned function gives it back once. */
  take(address: string): Release {
    const max = this.limits.perAddress;
    return this.places.take([
      {
        key: address,
        max,
        refusal: () => new Refusal(429, `too many token checks in progress from your address (at most ${max} at once): try again`, "too-many-calls"),
      },
    ]);
  }

  /** Places in use, in all and for one address (for tests). */
  held(address?: string): number {
    return this.places.count(address);
  }
}
