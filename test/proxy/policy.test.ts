import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OPERATIONS } from "../../tenant-proxy/src/operations.ts";
import { disabledOperations } from "../../tenant-proxy/src/policy/api-filter.ts";
import { hostConfigRules } from "../../tenant-proxy/src/policy/fields.ts";
import { MIB, flavorForCreate, flavorForUpdate, flavorsSchema } from "../../tenant-proxy/src/policy/flavors.ts";
import { TenantQueue, checkSized, limitsFor, quotaExcess } from "../../tenant-proxy/src/policy/quota.ts";
import {
  type ContainerLimits,
  checkHealthcheck,
  checkPidsLimitUpdate,
  checkUlimits,
  duration,
  healthcheckOverImage,
  pidsLimitForCreate,
  shmSizeForCreate,
  tenantNetworksExcess,
} from "../../tenant-proxy/src/policy/limits.ts";
import { checkPublishedPorts, publishedPortCount, tenantPortsExcess } from "../../tenant-proxy/src/policy/ports.ts";
import { limitTmpfs, parseTmpfsOptions } from "../../tenant-proxy/src/policy/tmpfs.ts";
import { checkPsArgs } from "../../tenant-proxy/src/policy/ps-args.ts";
import { readSettings } from "../../tenant-proxy/src/settings.ts";
import { SETTINGS, SettingsError } from "../../tenant-proxy/src/settings-table.ts";

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
    expect(quotaExcess(limits, { memory: 0, nanoCpus: 0, containers: 5 }, { memory: 0, nanoCpus: 0, containers: 1 })).toContain(
      "container quota exceeded: limit 5",
    );
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
    expect(disabledOperations({ disableapi: ["networkslits"] }, OPERATIONS)).toEqual({
      error: 'unknown operation "networkslits" (the names are listed in tenant-proxy/README.md)',
    });
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

  it("sizes every tmpfs, all of a container's together under the limit", () => {
    const limited = limitTmpfs({ Tmpfs: { "/run": "", "/cache": "rw,size=16m" } }, 64 * MIB);
    expect(limited.Tmpfs).toEqual({ "/run": `size=${48 * MIB}`, "/cache": `rw,size=${16 * MIB}` });
    const shared = limitTmpfs(
      {
        Tmpfs: { "/a": "exec" },
        Mounts: [
          { Type: "volume", Source: "v", Target: "/v" },
          { Type: "tmpfs", Target: "/t" },
        ],
      },
      64 * MIB,
    );
    expect(shared.Tmpfs).toEqual({ "/a": `exec,size=${32 * MIB}` });
    expect(shared.Mounts).toEqual([
      { Type: "volume", Source: "v", Target: "/v" },
      { Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 32 * MIB } },
    ]);
    expect(() => limitTmpfs({ Tmpfs: { "/big": "size=1g" } }, 64 * MIB)).toThrow('HostConfig.Tmpfs["/big"]: a tmpfs of 1024 MB is over the limit of 64 MB');
    expect(() => limitTmpfs({ Mounts: [{ Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 128 * MIB } }] }, 64 * MIB)).toThrow("Mounts[0]");
    expect(() => limitTmpfs({ Tmpfs: { "/a": "size=40m", "/b": "size=40m" } }, 64 * MIB)).toThrow(
      "the container's tmpfs mounts add up to 80 MB, over the limit of 64 MB",
    );
    expect(() => limitTmpfs({ Tmpfs: { "/a": "size=64m", "/b": "" } }, 64 * MIB)).toThrow('HostConfig.Tmpfs["/b"]: no room is left for this tmpfs');
    expect(() => limitTmpfs({ Mounts: [{ Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: -1 } }] }, 64 * MIB)).toThrow("whole number of bytes");
    expect(() => limitTmpfs({ Mounts: [{ Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 1, Size: 9 } }] }, 64 * MIB)).toThrow("unknown field");
    expect(() => limitTmpfs({ Tmpfs: { "/x": 5 } }, 64 * MIB)).toThrow("must be a string");
  });

  it("reads tmpfs options as the engine and the kernel do: the later size or nr_blocks wins", () => {
    expect(parseTmpfsOptions("size=1m,size=1g", "f").sizeBytes).toBe(1024 * MIB);
    expect(parseTmpfsOptions("size=1g,size=1m", "f").sizeBytes).toBe(MIB);
    expect(parseTmpfsOptions("size=1m,nr_blocks=262144", "f").sizeBytes).toBe(1024 * MIB);
    expect(parseTmpfsOptions("nr_blocks=1k,size=8m", "f").sizeBytes).toBe(8 * MIB);
    expect(parseTmpfsOptions("size=1000", "f").sizeBytes).toBe(4096);
    expect(parseTmpfsOptions("size=2G,mode=1777,noexec,uid=1000", "f")).toEqual({ sizeBytes: 2048 * MIB, others: ["mode=1777", "noexec", "uid=1000"] });
    expect(parseTmpfsOptions("ro", "f")).toEqual({ sizeBytes: undefined, others: ["ro"] });
    expect(parseTmpfsOptions("size=0,size=1m", "f").sizeBytes).toBe(MIB);
    for (const [options, why] of [
      ["size=50%", "cannot read the tmpfs size"],
      ["size=0x10000", "cannot read the tmpfs size"],
      ["size=010m", "cannot read the tmpfs size"],
      ["size=lots", "cannot read the tmpfs size"],
      ["size=1m,size=0", "an unlimited tmpfs (size 0)"],
      ["nr_blocks=0", "an unlimited tmpfs (size 0)"],
      ["nr_inodes=0", "0 is unlimited"],
      ["bind", 'the tmpfs option "bind" is not available'],
      ["mpol=bind:0", 'the tmpfs option "mpol=bind:0"'],
      ["Size=1m", 'the tmpfs option "Size=1m"'],
    ]) {
      expect(() => parseTmpfsOptions(options!, 'HostConfig.Tmpfs["/t"]'), options).toThrow(why);
    }
  });
});

const ulimits = (raw: string) => SETTINGS.ulimitsMax.parse(raw, SETTINGS.ulimitsMax.env);
const limits: ContainerLimits = {
  pids: { default: 1024, max: 4096 },
  shmMaxBytes: 64 * MIB,
  healthcheckMinNs: 1e9,
  ulimitsMax: ulimits(SETTINGS.ulimitsMax.default),
  publishedPortsMax: 20,
  publishedPortsTenantMax: 100,
  networksTenantMax: 20,
  mountsMax: 64,
};

describe("container limits", () => {
  it("give every create a PIDs limit and refuse unlimited or over the max", () => {
    expect(pidsLimitForCreate(undefined, limits)).toBe(1024);
    expect(pidsLimitForCreate(null, limits)).toBe(1024);
    expect(pidsLimitForCreate(0, limits)).toBe(1024);
    expect(pidsLimitForCreate(200, limits)).toBe(200);
    expect(() => pidsLimitForCreate(-1, limits)).toThrow("HostConfig.PidsLimit: an unlimited PIDs limit is not allowed");
    expect(() => pidsLimitForCreate(4097, limits)).toThrow("HostConfig.PidsLimit: 4097 is over the limit of 4096 processes");
    expect(() => pidsLimitForCreate(1.5, limits)).toThrow("must be a whole number");
    expect(() => pidsLimitForCreate("10", limits)).toThrow("must be a whole number");
  });

  it("let an update keep or change the PIDs limit, never to unlimited", () => {
    expect(() => checkPidsLimitUpdate(null, limits)).not.toThrow();
    expect(() => checkPidsLimitUpdate(undefined, limits)).not.toThrow();
    expect(() => checkPidsLimitUpdate(300, limits)).not.toThrow();
    expect(() => checkPidsLimitUpdate(0, limits)).toThrow("PidsLimit: an unlimited PIDs limit is not allowed");
    expect(() => checkPidsLimitUpdate(-1, limits)).toThrow("an unlimited PIDs limit");
    expect(() => checkPidsLimitUpdate(100000, limits)).toThrow("100000 is over the limit of 4096");
  });

  it("cap /dev/shm, giving the engine's default when it is under the max", () => {
    expect(shmSizeForCreate(0, limits)).toBe(64 * MIB);
    expect(shmSizeForCreate(undefined, { ...limits, shmMaxBytes: 32 * MIB })).toBe(32 * MIB);
    expect(shmSizeForCreate(16 * MIB, limits)).toBe(16 * MIB);
    expect(() => shmSizeForCreate(1024 * MIB, limits)).toThrow("HostConfig.ShmSize: a /dev/shm of 1024 MB is over the limit of 64 MB");
    expect(() => shmSizeForCreate(-1, limits)).toThrow("cannot be negative");
  });

  it("refuse healthcheck durations under the minimum, and raise an image's", () => {
    expect(duration(1e9)).toBe("1s");
    expect(duration(1e6)).toBe("1ms");
    expect(duration(1500)).toBe("1500ns");
    expect(checkHealthcheck({ Test: ["CMD", "true"], Interval: 2e9, Timeout: 0, StartPeriod: 0, Retries: 3, StartInterval: 0 }, limits)).toEqual({
      Test: ["CMD", "true"],
      Interval: 2e9,
      Timeout: 0,
      StartPeriod: 0,
      Retries: 3,
    });
    expect(checkHealthcheck(null, limits)).toBeNull();
    expect(() => checkHealthcheck({ Interval: 1e6 }, limits)).toThrow("Healthcheck.Interval: 1ms is shorter than the minimum of 1s");
    expect(() => checkHealthcheck({ Timeout: 10e6 }, limits)).toThrow("Healthcheck.Timeout");
    expect(() => checkHealthcheck({ StartPeriod: -5 }, limits)).toThrow("Healthcheck.StartPeriod");
    expect(() => checkHealthcheck({ Interval: "1s" }, limits)).toThrow("must be a whole number");
    expect(() => checkHealthcheck({ interval: 1 }, limits)).toThrow("unknown field Healthcheck.interval");

    const eager = { Test: ["CMD", "true"], Interval: 1e6, Timeout: 1e6 };
    expect(healthcheckOverImage(undefined, eager, limits)).toEqual({ Interval: 1e9, Timeout: 1e9 });
    expect(healthcheckOverImage({ Interval: 5e9 }, eager, limits)).toEqual({ Interval: 5e9, Timeout: 1e9 });
    expect(healthcheckOverImage({ Test: ["NONE"] }, { Interval: 30e9 }, limits)).toEqual({ Test: ["NONE"] });
    expect(healthcheckOverImage(undefined, undefined, limits)).toBeUndefined();
  });

  it("allow only the operator's ulimit names, up to its maximum", () => {
    expect(checkUlimits([{ Name: "NOFILE", Soft: 1024, Hard: 2048 }], limits, "HostConfig.Ulimits")).toEqual([{ Name: "nofile", Soft: 1024, Hard: 2048 }]);
    expect(checkUlimits([{ Name: "stack", Soft: -1, Hard: -1 }], limits, "HostConfig.Ulimits")).toEqual([{ Name: "stack", Soft: -1, Hard: -1 }]);
    expect(() => checkUlimits([{ Name: "rtprio", Soft: 99, Hard: 99 }], limits, "HostConfig.Ulimits")).toThrow(
      "HostConfig.Ulimits: the rtprio limit cannot be set here (allowed: core, cpu",
    );
    expect(() => checkUlimits([{ Name: "nofile", Soft: 10, Hard: 2000000 }], limits, "HostConfig.Ulimits")).toThrow(
      "nofile 2000000 is over the limit of 1048576",
    );
    expect(() => checkUlimits([{ Name: "nofile", Soft: -1, Hard: -1 }], limits, "Ulimits")).toThrow("nofile unlimited is over the limit of 1048576");
    expect(() => checkUlimits([{ Name: "core", Soft: 0, Hard: 1 }], limits, "Ulimits")).toThrow("core 1 is over the limit of 0");
    expect(() => checkUlimits([{ Name: "core", Soft: 0, Hard: 0, Extra: 1 }], limits, "Ulimits")).toThrow("unknown field");
    expect(() => checkUlimits({ Name: "core" }, limits, "Ulimits")).toThrow("must be a list");
    expect(() => checkUlimits([{ Name: "nofile" }], { ...limits, ulimitsMax: ulimits("none") }, "Ulimits")).toThrow("(allowed: none)");
  });

  it("count published ports as the engine publishes them", () => {
    const range = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`${40000 + i}/tcp`, [{ HostIp: "", HostPort: String(40000 + i) }]]));
    expect(publishedPortCount({ PortBindings: range }, undefined, undefined)).toBe(101);
    expect(publishedPortCount({ PortBindings: { "80/tcp": [{ HostPort: "40000-41000" }] } }, undefined, undefined)).toBe(1);
    expect(publishedPortCount({ PortBindings: { "80/tcp": [{ HostPort: "" }, { HostPort: "40001" }], "53/udp": [] } }, undefined, undefined)).toBe(2);
    expect(publishedPortCount({ PortBindings: {}, PublishAllPorts: true }, { "80/tcp": {}, "81": {} }, { "80/tcp": {}, "9000/tcp": {} })).toBe(3);
    expect(publishedPortCount({ PortBindings: { "80/tcp": [{}, {}] }, PublishAllPorts: true }, { "80/tcp": {} }, null)).toBe(2);
    expect(publishedPortCount({ PortBindings: {}, PublishAllPorts: false }, { "80/tcp": {} }, { "81/tcp": {} })).toBe(0);
    // The engine keeps "80" and "80/tcp" apart: each key's bindings publish, and -P publishes each key.
    expect(publishedPortCount({ PortBindings: { "80": [{}, {}], "80/tcp": [{}] } }, undefined, undefined)).toBe(3);
    expect(publishedPortCount({ PortBindings: {}, PublishAllPorts: true }, { "80": {}, "80/tcp": {} }, { "80/tcp": {} })).toBe(2);
    expect(() => publishedPortCount({ PortBindings: { "80-90/tcp": [{}] } }, undefined, undefined)).toThrow('"80-90/tcp" is not one port');
    expect(() => checkPublishedPorts({ PortBindings: range }, undefined, undefined, 20)).toThrow(
      "HostConfig.PortBindings: 101 published ports is over the limit of 20 a container",
    );
    expect(checkPublishedPorts({ PortBindings: range }, undefined, undefined, 101)).toBe(101);
    expect(tenantPortsExcess(3, 2, 1)).toBeUndefined();
    expect(tenantPortsExcess(3, 3, 1)).toBe("published port limit exceeded: limit 3 a tenant, in use 3, requested 1");
  });

  it("refuse a tenant's network over its limit", () => {
    expect(tenantNetworksExcess(3, 2)).toBeUndefined();
    expect(tenantNetworksExcess(3, 3)).toBe("network limit exceeded: limit 3 a tenant, in use 3, requested 1");
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

  it("reads the container limits, with defaults", () => {
    const defaults = readSettings(base).policy.limits;
    expect(defaults).toMatchObject({
      pids: { default: 1024, max: 4096 },
      shmMaxBytes: 64 * MIB,
      healthcheckMinNs: 1e9,
      publishedPortsMax: 20,
      publishedPortsTenantMax: 100,
      networksTenantMax: 20,
    });
    expect([...defaults.ulimitsMax.keys()]).toEqual(["core", "cpu", "data", "fsize", "locks", "nofile", "nproc", "rss", "stack"]);
    const set = readSettings({
      ...base,
      BERTH_PIDS_LIMIT_DEFAULT: "256",
      BERTH_PIDS_LIMIT_MAX: "512",
      BERTH_SHM_MAX_MB: "128",
      BERTH_HEALTHCHECK_MIN_MS: "5000",
      BERTH_ULIMITS_MAX: "nofile=65536,nproc=unlimited",
      BERTH_PUBLISHED_PORTS_MAX: "5",
      BERTH_PUBLISHED_PORTS_TENANT_MAX: "50",
      BERTH_NETWORKS_TENANT_MAX: "7",
      BERTH_MOUNTS_MAX: "16",
    }).policy.limits;
    expect(set).toEqual({
      pids: { default: 256, max: 512 },
      shmMaxBytes: 128 * MIB,
      healthcheckMinNs: 5e9,
      ulimitsMax: new Map([
        ["nofile", 65536],
        ["nproc", Infinity],
      ]),
      publishedPortsMax: 5,
      publishedPortsTenantMax: 50,
      networksTenantMax: 7,
      mountsMax: 16,
    });
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
    [{ BERTH_PIDS_LIMIT_DEFAULT: "8192" }, "BERTH_PIDS_LIMIT_DEFAULT", "over BERTH_PIDS_LIMIT_MAX (4096)"],
    [{ BERTH_PIDS_LIMIT_MAX: "-1" }, "BERTH_PIDS_LIMIT_MAX", "positive whole number"],
    [{ BERTH_ULIMITS_MAX: "nofile=1024,rtprio" }, "BERTH_ULIMITS_MAX", 'got "rtprio"'],
    [{ BERTH_ULIMITS_MAX: "files=1024" }, "BERTH_ULIMITS_MAX", 'got "files=1024"'],
    [{ BERTH_HEALTHCHECK_MIN_MS: "0" }, "BERTH_HEALTHCHECK_MIN_MS", "positive whole number"],
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
    for (const args of [
      "-p 1",
      "e",
      "aux e",
      "axf",
      "-ef --forest",
      "-o args,pid",
      "-o pid,args,ni",
      "-o pid=X,ppid=PID",
      "-opid,comm",
      "-o pid:9,comm",
      "-o comm",
      "aux ",
      " aux",
      "aux  x",
      "-o pid,lstart",
      "--ppid 1",
    ]) {
      expect(() => checkPsArgs(args), args).toThrow(/^ps_args: /);
    }
  });
});
