import { describe, expect, it } from "vitest";
import { DEFAULT_PRIVATE_CIDRS, checkRegistry, imageRegistry, privateRanges, urlAuthority } from "../../tenant-proxy/src/policy/registries.ts";
import { tenantInfoView } from "../../tenant-proxy/src/rewrite/system.ts";
import { readSettings } from "../../tenant-proxy/src/settings.ts";

const ranges = privateRanges(DEFAULT_PRIVATE_CIDRS);
if ("bad" in ranges) throw new Error(ranges.bad);
const policy = { privateRanges: ranges, allowed: new Set(["10.0.0.5:5000", "registry.internal"]) };
const resolving = (answers: Record<string, string[]>) => async (host: string) => {
  if (!answers[host]) throw new Error("ENOTFOUND");
  return answers[host]!;
};
const refused = /^registry .* is not available to tenants of this service$/;

describe("registries tenants may reach", () => {
  it("read the registry of an image reference as Docker does", () => {
    expect(imageRegistry("busybox")).toBeUndefined();
    expect(imageRegistry("library/busybox:1")).toBeUndefined();
    expect(imageRegistry("10.0.0.5:5000/app:1")).toBe("10.0.0.5:5000");
    expect(imageRegistry("localhost/app")).toBe("localhost");
    expect(imageRegistry("quay.io/org/app@sha256:abc")).toBe("quay.io");
  });

  it("read the authority of URLs, server addresses and git remotes", () => {
    expect(urlAuthority("https://user:pw@10.0.0.1:5000/v1/")).toBe("10.0.0.1:5000");
    expect(urlAuthority("10.0.0.1:2379")).toBe("10.0.0.1:2379");
    expect(urlAuthority("git@github.com:org/repo.git")).toBe("github.com");
    expect(urlAuthority("github.com/org/repo")).toBe("github.com");
  });

  it("refuse private, loopback, link-local and unresolvable hosts, and pass public and listed ones", async () => {
    const lookup = resolving({ "public.example": ["93.184.215.14"], "inside.example": ["93.184.215.14", "10.1.2.3"] });
    for (const authority of [
      "10.0.0.14:2379",
      "127.0.0.1:9",
      "[::1]:2375",
      "169.254.169.254",
      "localhost:5000",
      "inside.example",
      "nowhere.example",
      "[::ffff:10.0.0.1]:80",
      "10.0.0.5:5001",
    ]) {
      await expect(checkRegistry(authority, policy, lookup), authority).rejects.toThrow(refused);
    }
    // IPv6 forms that carry an IPv4 address a translator or tunnel may take to it: compatible,
    // translated (SIIT), local-use NAT64, 6to4, Teredo; and the discard prefix.
    for (const authority of [
      "[::127.0.0.1]:80",
      "[::ffff:0:7f00:1]:80",
      "[64:ff9b:1::7f00:1]:80",
      "[2002:7f00:1::]:80",
      "[2001:0:7f00:1::]:80",
      "[100::1]:80",
    ]) {
      await expect(checkRegistry(authority, policy, lookup), authority).rejects.toThrow(refused);
    }
    for (const authority of ["public.example:443", "93.184.215.14", "10.0.0.5:5000", "Registry.Internal:5000"]) {
      await expect(checkRegistry(authority, policy, lookup), authority).resolves.toBeUndefined();
    }
  });

  it("are settings with named errors", () => {
    const base = { BERTH_UPSTREAM: "unix:///run/docker.sock", BERTH_AUTH_BACKEND: "none", SWARM_MULTI_TENANT: "false" };
    expect(() => readSettings({ ...base, BERTH_REGISTRY_PRIVATE_CIDRS: "10.0.0.0/8,nonsense" })).toThrow(
      'BERTH_REGISTRY_PRIVATE_CIDRS: expected address/prefix ranges such as 10.0.0.0/8, got "nonsense"',
    );
    expect(() => readSettings({ ...base, BERTH_TENANT_REGISTRIES: "http://r:5000" })).toThrow("BERTH_TENANT_REGISTRIES");
    expect([...readSettings({ ...base, BERTH_TENANT_REGISTRIES: "R.internal:5000, 10.0.0.5" }).policy.registries.allowed]).toEqual([
      "r.internal:5000",
      "10.0.0.5",
    ]);
  });
});

describe("the info a tenant sees", () => {
  it("keeps what clients use and drops the node's addresses, paths and load", () => {
    const engine = {
      ID: "A:B",
      Name: "docker-host-1",
      ServerVersion: "20.10.24",
      NCPU: 2,
      DockerRootDir: "/var/lib/docker",
      ClusterStore: "etcd://10.0.0.14:2379",
      ClusterAdvertise: "10.0.0.11:2375",
      HttpProxy: "http://proxy.internal:3128",
      NFd: 40,
      Warnings: ["WARNING: API is accessible on http://10.0.0.11:2375"],
      Runtimes: { runc: { path: "/usr/sbin/runc" } },
      SecurityOptions: ["name=seccomp,profile=/etc/docker/seccomp.json", "name=cgroupns"],
      RegistryConfig: { Mirrors: ["https://mirror.internal"] },
      Swarm: { NodeAddr: "10.0.0.11" },
      FutureField: "x",
    };
    const view = tenantInfoView(engine);
    expect(JSON.stringify(view)).not.toMatch(/10\.0\.0|\/var\/lib|\/usr\/sbin|\/etc\/docker|internal|docker-host-1|FutureField/);
    expect(view).toMatchObject({ ID: "A:B", ServerVersion: "20.10.24", NCPU: 2, Runtimes: { runc: {} }, SecurityOptions: ["name=seccomp", "name=cgroupns"] });
  });
});
