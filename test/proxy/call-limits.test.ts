import { describe, expect, it } from "vitest";
import { CallLimits } from "../../tenant-proxy/src/call-limits.ts";
import { refusalOf } from "../support/refusal.ts";

describe("CallLimits", () => {
  it("refuses a tenant's call past its own limit with a 429, and leaves other tenants their places", () => {
    const limits = new CallLimits({ perTenant: 2, total: 10 });
    limits.enter({ tenant: "tenant-a", user: "tenant-a-user" });
    limits.enter({ tenant: "tenant-a", user: "tenant-a-user" });
    const refusal = refusalOf(() => limits.enter({ tenant: "tenant-a", user: "tenant-a-user" }));
    expect(refusal.status).toBe(429);
    expect(refusal.message).toBe(
      "too many calls in progress for your project: at most 2 at once (streams such as events, logs -f, stats and attach count until they end)",
    );
    expect(() => limits.enter({ tenant: "tenant-b", user: "tenant-b-user" })).not.toThrow();
    expect(limits.inProgress("tenant-a")).toBe(2);
    expect(limits.inProgress()).toBe(3);
  });

  it("refuses any call past the total, public ones (no tenant) included, which count towards the total only", () => {
    const limits = new CallLimits({ perTenant: 5, total: 3 });
    limits.enter(undefined);
    limits.enter(undefined);
    limits.enter({ tenant: "tenant-a", user: "tenant-a-user" });
    expect(limits.inProgress("tenant-a")).toBe(1);
    expect(refusalOf(() => limits.enter({ tenant: "tenant-b", user: "tenant-b-user" })).message).toBe(
      "the service is busy: too many calls in progress from all projects; try again shortly",
    );
    expect(refusalOf(() => limits.enter(undefined)).status).toBe(429);
  });

  it("gives a user one share across all its projects, so a member of many projects cannot take the total", () => {
    const limits = new CallLimits({ perTenant: 2, total: 10 });
    limits.enter({ tenant: "project-1", user: "mallory" });
    limits.enter({ tenant: "project-2", user: "mallory" });
    const refusal = refusalOf(() => limits.enter({ tenant: "project-3", user: "mallory" }));
    expect(refusal.status).toBe(429);
    expect(refusal.message).toBe(
      "too many calls in progress for you, across your projects: at most 2 at once (streams such as events, logs -f, stats and attach count until they end)",
    );
    expect(() => limits.enter({ tenant: "project-3", user: "alice" })).not.toThrow();
    expect(limits.inProgress()).toBe(3);
  });

  it("gives a place back once however often it is released, and a refused call holds none", () => {
    const limits = new CallLimits({ perTenant: 1, total: 10 });
    const release = limits.enter({ tenant: "tenant-a", user: "tenant-a-user" });
    refusalOf(() => limits.enter({ tenant: "tenant-a", user: "tenant-a-user" }));
    release();
    release();
    expect(limits.inProgress("tenant-a")).toBe(0);
    expect(limits.inProgress()).toBe(0);
    const again = limits.enter({ tenant: "tenant-a", user: "tenant-a-user" });
    expect(limits.inProgress()).toBe(1);
    again();
  });
});
