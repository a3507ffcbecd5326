import { describe, expect, it } from "vitest";
import { ADMIN_SCOPE, SHARED_NETWORKS_SCOPE, TenantScope, checkName } from "../../tenant-proxy/src/ownership.ts";
import { nameMatcher, parseFilters, serializeFilters, withOwner } from "../../tenant-proxy/src/rewrite/filters.ts";
import { imageSummaryView } from "../../tenant-proxy/src/rewrite/images.ts";
import { eventView } from "../../tenant-proxy/src/rewrite/system.ts";
import { containerInspectView, containerSummaryView, networkView, visibleContainerName, volumeView } from "../../tenant-proxy/src/rewrite/views.ts";
import { jsonLine } from "../../tenant-proxy/src/steps/respond.ts";

const t1 = new TenantScope("t1");

describe("TenantScope", () => {
  it("maps names both ways and never unscopes another tenant's name", () => {
    expect(t1.engineName("web")).toBe("t1_web");
    expect(t1.visibleName("/t1_web")).toBe("/web");
    expect(t1.visibleName("t2_web")).toBe("t2_web");
    expect(new TenantScope("t1-a").isOwnEngineName("t1_x")).toBe(false);
    expect(t1.unscopeText('Conflict. The container name "/t1_web" is already in use')).toBe('Conflict. The container name "/web" is already in use');
  });

  it("checks names with docker's own rule", () => {
    expect(checkName("container", "/web.1")).toBe("web.1");
    expect(() => checkName("container", "x")).toThrow(/Invalid container name/);
    expect(() => checkName("volume", "a/b")).toThrow(/only \[a-zA-Z0-9\]/);
  });
});

describe("filters", () => {
  it("reads both filter forms and adds the owner label", () => {
    const filters = parseFilters('{"label":{"app=web":true},"status":["running"]}', ["label", "status"]);
    expect(JSON.parse(serializeFilters(withOwner(filters, "berth.tenant=t1")))).toEqual({
      label: { "app=web": true, "berth.tenant=t1": true },
      status: { running: true },
    });
  });

  it("refuses filters the operation does not know", () => {
    expect(() => parseFilters('{"node":["x"]}', ["label"])).toThrow("invalid filter 'node'");
    expect(() => parseFilters("{bad", ["label"])).toThrow("malformed filters");
  });

  it("matches names only with patterns that cannot backtrack", () => {
    const match = nameMatcher(["^/web$"]);
    expect(match("/web")).toBe(true);
    expect(match("/web2")).toBe(false);
    expect(() => nameMatcher(["(a+)+$"])).toThrow("only name characters");
  });
});

describe("views", () => {
  it("shows a container as its tenant named it, without berth labels", () => {
    const view = containerSummaryView(t1, t1, {
      Names: ["/t1_web", "/t1_app/t1_db"],
      Labels: { "berth.tenant": "t1", app: "x" },
      HostConfig: { NetworkMode: "t1_front" },
      NetworkSettings: { Networks: { t1_front: {} } },
      Mounts: [{ Type: "volume", Name: "t1_data", Source: "/var/lib/docker/volumes/t1_data/_data" }],
    });
    expect(view).toMatchObject({
      Names: ["/web", "/app/db"],
      Labels: { app: "x" },
      HostConfig: { NetworkMode: "front" },
      NetworkSettings: { Networks: { front: {} } },
      Mounts: [{ Name: "data", Source: "/var/lib/docker/volumes/data/_data" }],
    });
  });

  it("rewrites inspect's links, binds and endpoints", () => {
    const view = containerInspectView(t1, t1, {
      Name: "/t1_web",
      Config: { Labels: { "berth.tenant": "t1" } },
      HostConfig: { Links: ["/t1_db:/t1_web/database"], Binds: ["t1_store:/srv"], VolumesFrom: ["t1_data:ro"], NetworkMode: "default" },
      NetworkSettings: { Networks: { t1_front: { Aliases: ["web", "abc"] } } },
    });
    expect(view.Name).toBe("/web");
    expect(view.Config.Labels).toEqual({});
    expect(view.HostConfig).toMatchObject({ Links: ["/db:/web/database"], Binds: ["store:/srv"], VolumesFrom: ["data:ro"] });
    expect(Object.keys(view.NetworkSettings.Networks)).toEqual(["front"]);
  });

  it("keeps only the tenant's own containers inside a network", () => {
    const view = networkView(t1, t1, {
      Name: "bridge",
      Labels: {},
      Containers: { a: { Name: "t1_web" }, b: { Name: "t2_web" }, c: { Name: "admin-thing" } },
    });
    expect(view.Containers).toEqual({ a: { Name: "web" } });
  });

  it("keeps only the tenant's own tasks in a swarm network's verbose Services", () => {
    const task = (name: string) => ({ Name: name, EndpointID: "e", EndpointIP: "10.0.1.2", Info: { "Host IP": "10.213.0.14" } });
    const view = networkView(t1, SHARED_NETWORKS_SCOPE, {
      Name: "shared",
      Labels: null,
      Containers: {},
      Services: { "": { VIP: "<nil>", Tasks: [task("t1_web"), task("t2_db")] }, t2_only: { VIP: "10.0.1.9", Tasks: [task("t2_api")] } },
    });
    expect(view.Services).toEqual({ "": { VIP: "<nil>", Tasks: [task("web")] } });
  });

  it("shows volumes by their tenant names, and shared networks as they are", () => {
    expect(volumeView(t1, { Name: "t1_v", Labels: { "berth.tenant": "t1" }, Mountpoint: "/d/t1_v/_data", Options: { type: "nfs" } })).toEqual({
      Name: "v",
      Labels: {},
      Mountpoint: "/d/v/_data",
      Options: null,
    });
    expect(networkView(t1, SHARED_NETWORKS_SCOPE, { Name: "shared", Labels: null, Containers: {} }).Name).toBe("shared");
  });

  it("hides the MTU the proxy set on a tenant's network, which docker-compose would take for a changed definition", () => {
    const network = { Name: "t1_app_default", Labels: { "berth.tenant": "t1" }, Containers: {}, Options: { "com.docker.network.driver.mtu": "1450" } };
    expect(networkView(t1, t1, network).Options).toEqual({});
    expect(networkView(ADMIN_SCOPE, ADMIN_SCOPE, network).Options).toEqual(network.Options);
  });
});

/**
 * Engine answers as a hostile tenant could shape them (names and labels are the tenant's own text),
 * read the way the proxy reads a list or an inspect: the engine's text parsed, viewed, and
 * written with jsonLine. What reaches the client must be the tenant's own objects in its own names.
 */
describe("views of hostile engine answers", () => {
  const t2 = new TenantScope("t2");
  const asClientSees = (engineText: string, view: (item: any) => unknown) => JSON.parse(jsonLine(JSON.parse(engineText).map(view)).toString("utf8"));
  const summary = (item: any) => containerSummaryView(t1, t1, item);

  it("keeps quotes, backslashes, braces and unicode escapes inside the values they belong to", () => {
    const engineText = JSON.stringify([
      {
        Names: ['/t1_a"},{"Names":["/t2_b"]}'],
        Labels: { "berth.tenant": "t1", 'x"}': '"},{"Names":["/t2_c"],"x":"' },
        HostConfig: { NetworkMode: "t1_n\\" },
        NetworkSettings: { Networks: { "t1_n\\": {} } },
      },
    ]).replace("/t1_a", "\\u002ft1_a");
    expect(engineText).toContain("\\u002ft1_a");
    expect(asClientSees(engineText, summary)).toEqual([
      {
        Names: ['/a"},{"Names":["/t2_b"]}'],
        Labels: { 'x"}': '"},{"Names":["/t2_c"],"x":"' },
        HostConfig: { NetworkMode: "n\\" },
        NetworkSettings: { Networks: { "n\\": {} } },
      },
    ]);
  });

  it("never unscopes another tenant's name, nor one that only starts like the caller's", () => {
    const [view] = asClientSees(
      '[{"Names":["/t2_web","/t1_app/t2_db","/t1web","/t10_x"],"Labels":{},"NetworkSettings":{"Networks":{"t2_front":{}}}}]',
      summary,
    );
    expect(view.Names).toEqual(["/t2_web", "/app/t2_db", "/t1web", "/t10_x"]);
    expect(Object.keys(view.NetworkSettings.Networks)).toEqual(["t2_front"]);
    expect(containerSummaryView(t2, t2, { Names: ["/t1_web"] }).Names).toEqual(["/t1_web"]);
  });

  it("reads duplicate keys once, as the last value, and shows that value in the caller's names", () => {
    const [view] = asClientSees('[{"Names":["/t2_other"],"Labels":{"berth.tenant":"t2","a":"1"},"Names":["/t1_own"],"Labels":{"berth.tenant":"t1"}}]', summary);
    expect(view).toEqual({ Names: ["/own"], Labels: {} });
  });

  it("keeps a label or a network called __proto__ as an ordinary key, never as the object's prototype", () => {
    const [view] = asClientSees(
      '[{"Names":["/t1_x"],"Labels":{"__proto__":"v","berth.tenant":"t1"},"NetworkSettings":{"Networks":{"__proto__":{"IPAddress":"10.0.0.2"}}}}]',
      summary,
    );
    expect(Object.getPrototypeOf(view.Labels)).toBe(Object.prototype);
    expect(Object.entries(view.Labels)).toEqual([["__proto__", "v"]]);
    expect(Object.entries(view.NetworkSettings.Networks)).toEqual([["__proto__", { IPAddress: "10.0.0.2" }]]);
    const direct = containerSummaryView(t1, t1, JSON.parse('{"Labels":{"__proto__":{"polluted":true}},"NetworkSettings":{"Networks":{"__proto__":{"a":1}}}}'));
    expect(Object.hasOwn(direct.Labels, "__proto__")).toBe(true);
    expect((direct.Labels as any).polluted).toBeUndefined();
    expect(Object.hasOwn(direct.NetworkSettings.Networks, "__proto__")).toBe(true);
  });

  it("passes huge numbers as JSON.parse reads them, and refuses (throws on) nesting too deep to write", () => {
    const [view] = asClientSees('[{"Names":["/t1_x"],"SizeRw":18446744073709551615,"Created":1e400}]', summary);
    expect(view).toMatchObject({ Names: ["/x"], SizeRw: 18446744073709552000, Created: null });
    const deep = `[{"Names":["/t1_x"],"Extra":${"[".repeat(200_000)}${"]".repeat(200_000)}}]`;
    expect(() => asClientSees(deep, summary)).toThrow(RangeError);
  });

  it("rewrites a container name of one part or of several parts alike", () => {
    for (const name of ["/t1_web", "t1_web", "/", "", "/t1_a/t1_b", "//t1_a", "/t1_a/"]) {
      const viaParts = name
        .split("/")
        .map((part) => (part === "" ? part : t1.visibleName(part)))
        .join("/");
      expect(visibleContainerName(t1, name)).toBe(viaParts);
    }
  });
});

describe("imageSummaryView", () => {
  it("never tells how many containers use an image", () => {
    expect(imageSummaryView({ Id: "sha256:x", Containers: 3 })).toEqual({ Id: "sha256:x", Containers: -1 });
  });
});

describe("eventView", () => {
  const container = (tenant: string) => ({
    Type: "container",
    Action: "start",
    Actor: { ID: "abc", Attributes: { "berth.tenant": tenant, name: `${tenant}_web`, image: "busybox" } },
  });

  it("passes the tenant's container events with its names and without berth labels", () => {
    expect(eventView(t1, t1, container("t1"))).toEqual({
      Type: "container",
      Action: "start",
      Actor: { ID: "abc", Attributes: { name: "web", image: "busybox" } },
    });
  });

  it("drops others' events, image and daemon events, and events of unlabelled objects", () => {
    expect(eventView(t1, t1, container("t2"))).toBeUndefined();
    expect(eventView(t1, t1, { Type: "image", Action: "pull", Actor: { ID: "busybox", Attributes: {} } })).toBeUndefined();
    expect(eventView(t1, t1, { Type: "network", Action: "connect", Actor: { ID: "n", Attributes: { name: "bridge", container: "x" } } })).toBeUndefined();
    expect(eventView(t1, t1, { Type: "volume", Action: "create", Actor: { ID: "t2_v", Attributes: {} } })).toBeUndefined();
  });

  // While tenants share networks, a network event is anyone's but the engine's own networks': the
  // swarm's ingress and docker_gwbridge were hidden from inspect and lists, but not from events.
  it("hides the engine's own networks' events from tenants sharing networks: host, docker_gwbridge, the swarm's ingress", () => {
    const event = (name: string) => ({ Type: "network", Action: "create", Actor: { ID: "n", Attributes: { name, type: "overlay" } } });
    for (const name of ["host", "docker_gwbridge", "ingress"]) expect(eventView(t1, SHARED_NETWORKS_SCOPE, event(name)), name).toBeUndefined();
    expect(eventView(t1, SHARED_NETWORKS_SCOPE, event("shared"))).toMatchObject({ Actor: { Attributes: { name: "shared" } } });
  });

  it("passes own network and volume events by their scoped names", () => {
    expect(eventView(t1, t1, { Type: "network", Action: "destroy", Actor: { ID: "n", Attributes: { name: "t1_front", type: "bridge" } } })).toMatchObject({
      Actor: { Attributes: { name: "front" } },
    });
    expect(eventView(t1, t1, { Type: "volume", Action: "create", Actor: { ID: "t1_v", Attributes: { driver: "local" } } })).toMatchObject({
      Actor: { ID: "v" },
    });
  });
});
