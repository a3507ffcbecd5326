/**
 * Places counted under keys, each key up to its own maximum and all together up to a total: what
 * bounds the calls in progress (call-limits.ts) and the Keystone lookups (identity/lookup-slots.ts).
 * A place past any limit is refused at once; a place taken is given back exactly once.
 */
import type { Refusal } from "./http/errors.ts";

/** Gives the place back; calling it again does nothing. */
export type Release = () => void;

export interface KeyLimit {
  key: string;
  max: number;
  /** The answer when the key already holds `max` places. */
  refusal: () => Refusal;
}

export class Places {
  private readonly held = new Map<string, number>();
  private inUse = 0;

  constructor(
    private readonly total: number,
    private readonly totalRefusal: () => Refusal,
  ) {}

  /** Takes a place under every key and one of the total, or throws the refusal of the first limit reached. */
  take(limits: readonly KeyLimit[]): Release {
    for (const limit of limits) if (this.count(limit.key) >= limit.max) throw limit.refusal();
    if (this.inUse >= this.total) throw this.totalRefusal();
    this.inUse++;
    for (const { key } of limits) this.held.set(key, this.count(key) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
      for (const { key } of limits) {
        const left = this.count(key) - 1;
        if (left <= 0) this.held.delete(key);
        else this.held.set(key, left);
      }
    };
  }

  /** Places held under one key, or in all. */
  count(key?: string): number {
    return key === undefined ? this.inUse : (this.held.get(key) ?? 0);
  }
}
