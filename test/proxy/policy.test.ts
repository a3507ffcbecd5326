import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OPERATIONS } from "../../tenant-proxy/src/operations.ts";
import { disabledOperations } from "../../tenant-proxy/src/policy/api-filter.ts";
import { hostConfigRules } from "../../tenant-proxy/src/policy/fields.ts";
import { MIB, flavorForCreate, flavorForUpdate, flavorsSchema } from "../../tenant-proxy/src/policy/flavors.ts";
import { TenantQueue, checkSized, limitsFor, quotaExcess } from "../../tenant-proxy/src/policy/quota.ts";
import { checkPsArgs } from "../../tenant-proxy/src/policy/ps-args.ts";
import { limitTmpfs } from "../../tenant-proxy/src/policy/tmpfs.ts";
import { SettingsError, readSettings } from "../../tenant-proxy/src/settings.ts";

const flavors = { default: { Memory: 64 }, medium: { Memory: 128 }, large: { Memory: 256 } };

describe("flavors", () => {
  it("keep a listed size and give every other create the default, swap pinned", () => {
    expect(flavorForCreate(flavors, { Memory: 128 * MIB })).toMatchObject({ Memory: 128 * MIB, MemorySwap: 128 * MIB });
    expect(flavorForCreate(flavors, { Memory: 0 })).toMatchObject({ Memory: 64 * MIB, MemorySwap: 64 * MIB });
    expect(flavorForCreate(flavors, { Memory: 4096 * MIB, MemorySwap: -1 })).toMatchObject({ Memory: 64 * MIB, MemorySwap: 64 * MIB });
  });

  it("let an update move only to a listed size", () => {
    expect(flavorForUpdate(flavors, { Memory: 256 * MIB })).toMatchObject({ Memory: 256 * MIB, MemorySwap: 256 * MIB });
    expect(() => flavorForUpdate(flavors, { Memory: 1024 * MIB })).toThrow("Memory: memory must be one of the flavors (64, 128, 256 MB)");
    expect(() => flavorForUpdate(flavors, { MemorySwap: -1 })).toThrow("MemorySwap");
    expect(flavorForUpdate(flavors, { CpuShares: 512 })).toEqual({ CpuShares: 512 });
  });

  it("need a default and whole positive sizes", () => {
    expect(flavorsSchema.safeParse({ small: { Memory: 64 } }).success).toBe(false);
    expect(flavorsSchema.safeParse({ default: { Memory: -1 } }).success).toBe(false);
    expect(flavorsSchema.safeParse({ default: { Memory: 64, Cpus: 1 } }).success).toBe(false);
    expect(flavorsSchema.safeParse(flavors).success).toBe(true);
  });
});

describe("quotas", () => {
  const quota = { Memory: 300, Containers: 5, Cpus: 2, tenants: { big: { Memory: 1024 } } };

  it("apply per-tenant overrides over the defaults", () => {
    expect(limitsFor(quota, "someone")).toEqual({ Memory: 300, Containers: 5, Cpus: 2 });
    expect(limitsFor(quota, "big")).toEqual({ Memory: 1024, Containers: 5, Cpus: 2 });
    expect(limitsFor({ Memory: 300 }, "fdcs-style")).toEqual({ Memory: 300 });
  });

  it("say the limit, the usage and the request when exceeded", () => {
    const limits = limitsFor(quota, "someone");
    expect(quotaExcess(limits, { memory: 256 * MIB, nanoCpus: 0, containers: 4 }, { memory: 64 * MIB, nanoCpus: 0, containers: 1 })).toBe(
      "memory quota exceeded: limit 300 MB, in use 256 MB, requested 64 MB",
    );
    expect(quotaExcess(limits, { memory: 0, nanoCpus: 0, containers: 5 }, { memory: 0, nanoCpus: 0, containers: 1 })).toContain("container quota exceeded: limit 5");
    expect(quotaExcess(limits, { memory: 0, nanoCpus: 1.5e9, containers: 0 }, { memory: 0, nanoCpus: 1e9, containers: 1 })).toBe(
      "CPU quota exceeded: limit 2 CPUs, in use 1.5, requested 1",
    );
    expect(quotaExcess(limits, { memory: 236 * MIB, nanoCpus: 0, containers: 4 }, { memory: 64 * MIB, nanoCpus: 1e9, containers: 1 })).toBeUndefined();
  });

  it("do not let 'unlimited' around them", () => {
    expect(() => checkSized({ Memory: 300 }, 0, 0, 0)).toThrow("a memory limit is required");
    expect(() => checkSized({ Cpus: 1 }, 0, 0, 0)).toThrow("a CPU limit is required");
    expect(() => checkSized({ Cpus: 1 }, 0, 1e9, 50_000)).toThrow("not CpuQuota");
    expect(() => checkSized({ Memory: 300, Cpus: 1 }, 64 * MIB, 1e9, 0)).not.toThrow();
  });

  it("run one change at a time per tenant, and tenants apart", async () => {
    const queue = new TenantQueue();
    const order: string[] = [];
    const slow = (name: string, ms: number) => () => new Promise<void>((resolve) => setTimeout(() => (order.push(name), resolve()), ms));
    await Promise.all([queue.run("a", slow("a1", 30)), queue.run("a", slow("a2", 1)), queue.run("b", slow("b1", 10))]);
    expect(order).toEqual(["b1", "a1", "a2"]);
    await expect(queue.run("a", async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await queue.run("a", async () => "after a failure")).toBe("after a failure");
  });
});

describe("the API filter", () => {
  it("maps FDCS names to operations", () => {
    const result = disabledOperations({ disableapi: ["networkslist", "networkinspect", "networkcreate", "info"] }, OPERATIONS);
    expect(result).toEqual({ disabled: new Set(["NetworkList", "NetworkInspect", "NetworkCreate", "SystemInfo"]) });
  });

  it("refuses unknown names, _ping and version, and other shapes", () => {
    expect(disabledOperations({ disableapi: ["networkslits"] }, OPERATIONS)).toEqual({ error: 'unknown operation "networkslits" (the names are listed in the README)' });
    expect(disabledOperations({ disableapi: ["ping"] }, OPERATIONS)).toMatchObject({ error: expect.stringContaining("cannot be disabled") });
    expect(disabledOperations({ disableapi: ["version"] }, OPERATIONS)).toMatchObject({ error: expect.stringContaining("cannot be disabled") });
    expect(disabledOperations({ enableapi: [] }, OPERATIONS)).toMatchObject({ error: expect.any(String) });
  });
});

describe("host configuration policy", () => {
  it("lets the operator allow named capabilities only", () => {
    const rules = hostConfigRules(new Set(["NET_BIND_SERVICE"]));
    const capAdd = rules.CapAdd as (value: unknown) => string | undefined;
    expect(capAdd(["NET_BIND_SERVICE"])).toBeUndefined();
    expect(capAdd(["CAP_NET_BIND_SERVICE"])).toBeUndefined();
    expect(capAdd(["NET_BIND_SERVICE", "SYS_ADMIN"])).toBe("adding capabilities is not allowed: SYS_ADMIN (allowed here: NET_BIND_SERVICE)");
  });

  it("sizes every tmpfs under the limit", () => {
    const limited = limitTmpfs({ Tmpfs: { "/run": "", "/cache": "rw,size=16m" } }, 64 * MIB);
    expect(limited.Tmpfs).toEqual({ "/run": `size=${64 * MIB}`, "/cache": "rw,size=16m" });
    expect(() => limitTmpfs({ Tmpfs: { "/big": "size=1g" } }, 64 * MIB)).toThrow('HostConfig.Tmpfs["/big"]: a tmpfs of 1024 MB is over the limit of 64 MB');
    expect(() => limitTmpfs({ Mounts: [{ Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 128 * MIB } }] }, 64 * MIB)).toThrow("Mounts[0]");
    expect(() => limitTmpfs({ Tmpfs: { "/x": "size=lots" } }, 64 * MIB)).toThrow("cannot read the tmpfs size");
  });
});

describe("policy settings", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-policy-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const tokens = file("tokens.json", JSON.stringify([{ token: "token-one-1", user: "u", tenant: "t" }]));
  const base = { BERTH_UPSTREAM: "unix:///run/docker.sock", BERTH_AUTH_BACKEND: "static", BERTH_TOKENS_FILE: tokens };
  const error = (env: Record<string, string>) => {
    try {
      readSettings({ ...base, ...env });
    } catch (e) {
      if (e instanceof SettingsError) return e;
    }
    throw new Error("expected a SettingsError");
  };

  it("reads FDCS's files", () => {
    const settings = readSettings({
      ...base,
      SWARM_FLAVORS_ENFORCED: "true",
      SWARM_FLAVORS_FILE: file("flavors.json", JSON.stringify(flavors)),
      SWARM_ENFORCE_QUOTA: "true",
      SWARM_QUOTA_FILE: file("quota.json", '{"Memory": 300}'),
      SWARM_APIFILTER_FILE: file("apifilter.json", '{"disableapi": ["networkcreate"]}'),
      BERTH_ALLOW_CAPABILITIES: "net_bind_service",
    });
    expect(settings.policy.flavors).toEqual(flavors);
    expect(settings.policy.quota).toEqual({ Memory: 300 });
    expect([...settings.policy.disabledOperations]).toEqual(["NetworkCreate"]);
    expect([...settings.policy.allowedCapabilities]).toEqual(["NET_BIND_SERVICE"]);
  });

  it.each([
    [{ SWARM_FLAVORS_ENFORCED: "true", SWARM_FLAVORS_FILE: "/nonexistent.json" }, "SWARM_FLAVORS_FILE", "cannot read"],
    [{ SWARM_FLAVORS_ENFORCED: "true", SWARM_FLAVORS_FILE: "FLAVORS:" + '{"small":{"Memory":64}}' }, "SWARM_FLAVORS_FILE", '"default" flavor is required'],
    [{ SWARM_FLAVORS_ENFORCED: "true", SWARM_FLAVORS_FILE: "FLAVORS:" + '{"default":{"Memory":"64"}}' }, "SWARM_FLAVORS_FILE", "Memory"],
    [{ SWARM_ENFORCE_QUOTA: "true", SWARM_QUOTA_FILE: "QUOTA:" + '{"Memory": 0}' }, "SWARM_QUOTA_FILE", "Memory"],
    [{ SWARM_ENFORCE_QUOTA: "true", SWARM_QUOTA_FILE: "QUOTA:" + '{"Memroy": 300}' }, "SWARM_QUOTA_FILE", "Memroy"],
    [{ SWARM_APIFILTER_FILE: "FILTER:" + "{ disableapi: [ networkslist ] }" }, "SWARM_APIFILTER_FILE", "is not JSON"],
    [{ SWARM_APIFILTER_FILE: "FILTER:" + '{"disableapi": ["nosuch"]}' }, "SWARM_APIFILTER_FILE", 'unknown operation "nosuch"'],
    [{ BERTH_ALLOW_CAPABILITIES: "ALL" }, "BERTH_ALLOW_CAPABILITIES", "not a capability name"],
    [{ SWARM_ENFORCE_QUOTA: "maybe" }, "SWARM_ENFORCE_QUOTA", "true or false"],
  ])("refuses %o, naming %s", (env, setting, message) => {
    const resolved = Object.fromEntries(
      Object.entries(env).map(([key, value]) => {
        const inline = /^(FLAVORS|QUOTA|FILTER):(.*)$/s.exec(value);
        return [key, inline ? file(`${key}-${Math.random()}.json`, inline[2]!) : value];
      }),
    );
    const failure = error(resolved);
    expect(failure.setting).toBe(setting);
    expect(failure.message).toContain(message);
  });
});

describe("docker top's ps options", () => {
  it("pass the usual presets and custom lists of known columns that include pid", () => {
    for (const args of ["", "aux", "-ef", "-eF", "-x", "auxww", "-o pid,comm", "-eo pid,user,%cpu,args", "axo pid,ppid,stat,command"]) {
      expect(checkPsArgs(args)).toBe(args);
    }
  });

  it("refuse selections, environment, forests, header tricks, widths, free text before the end and empty words", () => {
    for (const args of ["-p 1", "e", "aux e", "axf", "-ef --forest", "-o args,pid", "-o pid,args,ni", "-o pid=X,ppid=PID", "-opid,comm", "-o pid:9,comm", "-o comm", "aux ", " aux", "aux  x", "-o pid,lstart", "--ppid 1"]) {
      expect(() => checkPsArgs(args), args).toThrow(/^ps_args: /);
    }
  });
});
