import { describe, expect, it } from "vitest";
import { LookupSlots } from "../../tenant-proxy/src/identity/lookup-slots.ts";

describe("Keystone lookup places", () => {
  it("refuses an address past its share and everyone past the total, with 429s that say which", () => {
    const slots = new LookupSlots({ total: 3, perAddress: 2 });
    slots.take("10.0.0.1");
    slots.take("10.0.0.1");
    expect(() => slots.take("10.0.0.1")).toThrow(
      expect.objectContaining({ status: 429, message: "too many token checks in progress from your address (at most 2 at once): try again" }),
    );
    slots.take("10.0.0.2");
    expect(() => slots.take("10.0.0.3")).toThrow(
      expect.objectContaining({ status: 429, message: "the service is busy: too many token checks in progress; try again shortly" }),
    );
  });

  it("gives a place back once, however often its release is called", () => {
    const slots = new LookupSlots({ total: 2, perAddress: 2 });
    const release = slots.take("a");
    slots.take("a");
    release();
    release();
    expect(slots.held("a")).toBe(1);
    expect(slots.held()).toBe(1);
    slots.take("a");
    expect(() => slots.take("a")).toThrow();
  });
});
