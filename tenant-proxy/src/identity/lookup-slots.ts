/**
 * How many Keystone lookups may run at once: per client address and in all. A token the proxy has
 * not seen costs Keystone one or two requests, and anyone can send tokens it has never seen, so
 * without a bound one client could keep Keystone too busy to answer anyone (the attacker's pass
 * measured 503s for everyone from 30 random tokens at once). Tokens already known come from the
 * cache and need no place, so tenants at work are not slowed by a flood.
 */
import { Refusal } from "../http/errors.ts";

export interface LookupLimits {
  /** BERTH_KEYSTONE_MAX_LOOKUPS: lookups in progress from all clients together. */
  total: number;
  /** BERTH_KEYSTONE_MAX_LOOKUPS_PER_ADDRESS: lookups in progress from one client address. */
  perAddress: number;
}

export class LookupSlots {
  private readonly byAddress = new Map<string, number>();
  private inUse = 0;

  constructor(private readonly limits: LookupLimits) {}

  /** Takes a place for a lookup from `address`, or refuses with a 429; the returned function gives it back once. */
  take(address: string): () => void {
    const fromAddress = this.byAddress.get(address) ?? 0;
    if (fromAddress >= this.limits.perAddress) {
      throw new Refusal(429, `too many token checks in progress from your address (at most ${this.limits.perAddress} at once): try again`, "too-many-calls");
    }
    if (this.inUse >= this.limits.total) throw new Refusal(429, "the service is busy: too many token checks in progress; try again shortly", "too-many-calls");
    this.byAddress.set(address, fromAddress + 1);
    this.inUse++;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.inUse--;
      const left = (this.byAddress.get(address) ?? 1) - 1;
      if (left === 0) this.byAddress.delete(address);
      else this.byAddress.set(address, left);
    };
  }

  /** Places in use, in all and for one address (for tests). */
  held(address?: string): number {
    return address === undefined ? this.inUse : (this.byAddress.get(address) ?? 0);
  }
}
