import { describe, expect, it } from "vitest";
import type { Refusal } from "../../tenant-proxy/src/http/errors.ts";
import { TenantScope } from "../../tenant-proxy/src/ownership.ts";
import { checkCreateBody, createReferences, scopeCreateBody } from "../../tenant-proxy/src/rewrite/container-create.ts";
import { readSettings } from "../../tenant-proxy/src/settings.ts";
import type { ClusterNode } from "../../tenant-proxy/src/upstream/cluster.ts";
import { refusalOf } from "../support/refusal.ts";
import type { Policy } from "../../tenant-proxy/src/settings-types.ts";

const scope = new TenantScope("t1");
const policy: Policy = readSettings({ BERTH_UPSTREAM: "unix:///run/docker.sock", BERTH_AUTH_BACKEND: "none", SWARM_MULTI_TENANT: "false" }).policy;

function refusal(body: Record<string, unknown>): Refusal {
  return refusalOf(() => checkCreateBody(body, policy));
}

describe("checkCreateBody: host restrictions", () => {
  it.each([
    [{ Privileged: true }, "HostConfig.Privileged"],
    [{ CapAdd: ["NET_ADMIN"] }, "HostConfig.CapAdd"],
    [{ Devices: [{ PathOnHost: "/dev/sda" }] }, "HostConfig.Devices"],
    [{ DeviceRequests: [{ Count: -1 }] }, "HostConfig.DeviceRequests"],
    [{ DeviceCgroupRules: ["c 1:3 mr"] }, "HostConfig.DeviceCgroupRules"],
    [{ PidMode: "host" }, "HostConfig.PidMode"],
    [{ IpcMode: "host" }, "HostConfig.IpcMode"],
    [{ UTSMode: "host" }, "HostConfig.UTSMode"],
    [{ UsernsMode: "host" }, "HostConfig.UsernsMode"],
    [{ NetworkMode: "host" }, "HostConfig.NetworkMode"],
    [{ CgroupnsMode: "host" }, "HostConfig.CgroupnsMode"],
    [{ SecurityOpt: ["seccomp=unconfined"] }, "HostConfig.SecurityOpt"],
    [{ Sysctls: { "net.ipv4.ip_forward": "1" } }, "HostConfig.Sysctls"],
    [{ CgroupParent: "/" }, "HostConfig.CgroupParent"],
    [{ Runtime: "runsc" }, "HostConfig.Runtime"],
    [{ Binds: ["/etc:/host-etc"] }, "HostConfig.Binds"],
    [{ Mounts: [{ Type: "bind", Source: "/", Target: "/host" }] }, "HostConfig.Mounts[0].Type"],
    [{ PortBindings: { "80/tcp": [{ HostPort: "80" }] } }, "HostConfig.PortBindings"],
    [{ PortBindings: { "80/tcp": [{ HostPort: "61001" }] } }, "HostConfig.PortBindings"],
    [{ LogConfig: { Type: "syslog", Config: {} } }, "HostConfig.LogConfig"],
    [{ OomKillDisable: true }, "HostConfig.OomKillDisable"],
    [{ PidsLimit: -1 }, "HostConfig.PidsLimit"],
    [{ PidsLimit: 100000 }, "HostConfig.PidsLimit"],
    [{ ShmSize: 2 ** 30 }, "HostConfig.ShmSize"],
    [{ Ulimits: [{ Name: "rtprio", Soft: 99, Hard: 99 }] }, "HostConfig.Ulimits"],
    [{ Tmpfs: { "/t": "size=1m,size=1g" } }, 'HostConfig.Tmpfs["/t"]'],
    [{ MaskedPaths: [] }, "HostConfig.MaskedPaths"],
    [{ VolumeDriver: "nfs" }, "HostConfig.VolumeDriver"],
  ])("refuses %o with a 403 naming %s", (hostConfig, field) => {
    const error = refusal({ Image: "x", HostConfig: hostConfig });
    expect(error.status).toBe(403);
    expect(error.message.startsWith(field)).toBe(true);
  });

  it("accepts what the docker CLI sends for a plain run, including empty defaults", () => {
    const body = {
      Image: "busybox",
      Cmd: ["sleep", "1"],
      HostConfig: {
        Privileged: false,
        CapAdd: null,
        PidsLimit: 0,
        LogConfig: { Type: "", Config: {} },
        PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "32768" }] },
        MaskedPaths: null,
        SecurityOpt: ["no-new-privileges"],
      },
      NetworkingConfig: { EndpointsConfig: { default: { GwPriority: 0, DNSNames: null } } },
    };
    const checked = checkCreateBody(body, policy);
    expect(checked.NetworkingConfig.EndpointsConfig.default).toEqual({}); // newer-than-1.41 fields dropped
    expect(checked.HostConfig.PortBindings).toEqual(body.HostConfig.PortBindings);
    // The service's limits where the CLI asks for none, and the container's own cgroup namespace.
    expect(checked.HostConfig).toMatchObject({ PidsLimit: 1024, ShmSize: 64 * 1024 * 1024, CgroupnsMode: "private" });
  });

  it("refuses unknown fields and differently cased ones (Go would decode them)", () => {
    expect(refusal({ Image: "x", Bogus: 1 }).message).toBe("unknown field Bogus");
    const cased = refusal({ Image: "x", HostConfig: { privileged: true } });
    expect(cased.status).toBe(400);
    expect(cased.message).toContain("did you mean Privileged?");
  });

  it("refuses the reserved label prefix, in any case", () => {
    expect(refusal({ Image: "x", Labels: { "Berth.tenant": "other" } }).message).toContain("reserved");
    expect(
      refusal({ Image: "x", HostConfig: { Mounts: [{ Type: "volume", Source: "v", Target: "/d", VolumeOptions: { Labels: { "berth.x": "1" } } }] } }).message,
    ).toContain("reserved");
  });
});

describe("checkCreateBody: the service's runtime (BERTH_TENANT_RUNTIME)", () => {
  const sandboxed: Policy = { ...policy, tenantRuntime: "runsc" };
  it("runs every tenant container under the operator's runtime", () => {
    expect(checkCreateBody({ Image: "busybox" }, sandboxed).HostConfig.Runtime).toBe("runsc");
    expect(checkCreateBody({ Image: "busybox", HostConfig: { Runtime: "" } }, sandboxed).HostConfig.Runtime).toBe("runsc");
  });
  it("refuses a tenant's way out of the sandbox, naming the field", () => {
    const refused = refusalOf(() => checkCreateBody({ Image: "busybox", HostConfig: { Runtime: "runc" } }, sandboxed));
    expect(refused.status).toBe(403);
    expect(refused.message).toMatch(/^HostConfig\.Runtime: containers run under the service's runtime \(runsc\)/);
  });
  it("leaves the engine's default alone when the operator names none", () => {
    expect(checkCreateBody({ Image: "busybox" }, policy).HostConfig.Runtime).toBeUndefined();
  });
});

describe("createReferences and scopeCreateBody", () => {
  const body = checkCreateBody(
    {
      Image: "busybox",
      Labels: { app: "web" },
      HostConfig: {
        Links: ["db:database", "cache"],
        VolumesFrom: ["data:ro"],
        PidMode: "container:db",
        NetworkMode: "front",
        Binds: ["store:/srv:rw"],
        Mounts: [
          { Type: "volume", Source: "logs", Target: "/logs" },
          { Type: "tmpfs", Target: "/tmp" },
        ],
      },
      NetworkingConfig: { EndpointsConfig: { front: { Aliases: ["w"], Links: ["db"] } } },
    },
    policy,
  );

  it("lists every object the body names", () => {
    const refs = createReferences(body);
    expect([...refs.containers].sort()).toEqual(["cache", "data", "db"]);
    expect([...refs.networks]).toEqual(["front"]);
    expect([...refs.volumes].sort()).toEqual(["logs", "store"]);
  });

  it("writes the engine's version: scoped names, ids, owner label, the tenant's name as alias", () => {
    const node = {} as ClusterNode;
    const container = (name: string) => ({ id: `${name}-id`, engineName: `t1_${name}`, node });
    const resolved = {
      containers: new Map(["db", "cache", "data"].map((n) => [n, container(n)])),
      networks: new Map([["front", { id: "net-id", engineName: "t1_front", predefined: false, node }]]),
    };
    const scoped = scopeCreateBody(body, scope, resolved, "web");
    expect(scoped.Labels).toEqual({ app: "web", "berth.tenant": "t1" });
    expect(scoped.HostConfig.Links).toEqual(["t1_db:database", "t1_cache:cache"]);
    expect(scoped.HostConfig.VolumesFrom).toEqual(["t1_data:ro"]);
    expect(scoped.HostConfig.PidMode).toBe("container:db-id");
    expect(scoped.HostConfig.NetworkMode).toBe("t1_front");
    expect(scoped.HostConfig.Binds).toEqual(["t1_store:/srv:rw"]);
    expect(scoped.HostConfig.Mounts[0]).toMatchObject({ Source: "t1_logs" });
    expect(scoped.HostConfig.Mounts[1]).toEqual({ Type: "tmpfs", Target: "/tmp", TmpfsOptions: { SizeBytes: policy.tmpfsMaxBytes } });
    expect(scoped.NetworkingConfig.EndpointsConfig).toEqual({ t1_front: { Aliases: ["w", "web"], Links: ["t1_db:db"] } });
  });
});
