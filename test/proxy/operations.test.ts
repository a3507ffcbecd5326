import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { OPERATIONS, matchOperation } from "../../tenant-proxy/src/operations.ts";

interface SpecOperation {
  id: string;
  method: string;
  path: string;
  query: string[];
}

const spec = parse(readFileSync(new URL("../../tenant-proxy/spec/docker-engine-v1.41.yaml", import.meta.url), "utf8"));
const specOperations: SpecOperation[] = Object.entries(spec.paths as Record<string, Record<string, any>>).flatMap(([path, methods]) =>
  Object.entries(methods)
    .filter(([method]) => method !== "parameters")
    .map(([method, operation]) => ({
      id: operation.operationId,
      method: method.toUpperCase(),
      path,
      query: (operation.parameters ?? []).filter((p: any) => p.in === "query").map((p: any) => p.name),
    })),
);

/** Query parameters real clients send that the v1.41 spec does not list. */
const CLIENT_EXTRAS: Record<string, string[]> = {
  ContainerList: ["trunc_cmd"], // docker-compose 1.29 (docker-py)
  ContainerLogs: ["details"], // docker logs --details; dockerd 20.10 honours it
};

describe("the operation table", () => {
  it("decides every operation of the engine's spec, once, with the spec's method and path", () => {
    expect(specOperations).toHaveLength(106);
    const table = new Map(OPERATIONS.map((op) => [op.id, op]));
    expect(table.size).toBe(OPERATIONS.length);
    for (const operation of specOperations) {
      const decided = table.get(operation.id);
      expect(decided, operation.id).toBeDefined();
      expect([decided!.method, decided!.path]).toEqual([operation.method, operation.path]);
      expect(["public", "tenant", "admin", "refused"]).toContain(decided!.access);
    }
    expect(OPERATIONS).toHaveLength(specOperations.length);
  });

  it("gives each tenant operation a handler (none to refused ones), and each refusal a reason", () => {
    for (const operation of OPERATIONS) {
      if (operation.access === "tenant" || operation.imageChange) expect(operation.handler, operation.id).toBeTypeOf("function");
      if (operation.access === "refused") expect(operation.handler, operation.id).toBeUndefined();
      if (operation.imageChange) expect(operation.access, operation.id).toBe("admin");
      if (operation.access === "admin" || operation.access === "refused") expect(operation.reason, operation.id).toBeTruthy();
    }
  });

  it("lets tenants send only the query parameters the spec defines (plus named client extras)", () => {
    const bySpec = new Map(specOperations.map((op) => [op.id, op.query]));
    for (const operation of OPERATIONS.filter((op) => op.handler !== undefined)) {
      const allowed = [...bySpec.get(operation.id)!, ...(CLIENT_EXTRAS[operation.id] ?? [])];
      for (const key of operation.query ?? []) expect(allowed, `${operation.id} ?${key}`).toContain(key);
    }
  });

  it("gives every operation a distinct FDCS API-filter name (both pings share one)", () => {
    const names = OPERATIONS.filter((op) => op.id !== "SystemPingHead").map((op) => op.fdcs);
    expect(new Set(names).size).toBe(names.length);
    const fdcsDocumented = [
      "containerscreate",
      "containerslist",
      "containerstart",
      "execstart",
      "imagescreate",
      "networkslist",
      "networkcreate",
      "networkconnect",
      "networkdisconnect",
      "networkdelete",
      "networkinspect",
      "volumecreate",
      "info",
    ];
    for (const name of fdcsDocumented) expect(names).toContain(name);
  });

  it("makes only _ping public", () => {
    expect(
      OPERATIONS.filter((op) => op.access === "public")
        .map((op) => op.id)
        .sort(),
    ).toEqual(["SystemPing", "SystemPingHead"]);
  });
});

describe("matchOperation", () => {
  const id = (method: string, path: string) => {
    const match = matchOperation(method, path.split("/").slice(1));
    return "operation" in match ? [match.operation.id, match.params] : match;
  };

  it("prefers literal paths over parameters", () => {
    expect(id("GET", "/images/json")).toEqual(["ImageList", {}]);
    expect(id("GET", "/images/get")).toEqual(["ImageGetAll", {}]);
    expect(id("GET", "/containers/json")).toEqual(["ContainerList", {}]);
    expect(id("POST", "/networks/prune")).toEqual(["NetworkPrune", {}]);
  });

  it("lets image names span segments", () => {
    expect(id("GET", "/images/registry:5000/team/app:1.0/json")).toEqual(["ImageInspect", { name: "registry:5000/team/app:1.0" }]);
    expect(id("DELETE", "/images/library/busybox")).toEqual(["ImageDelete", { name: "library/busybox" }]);
  });

  it("lets network ids span segments, as a node's local network (docker-host-1/bridge)", () => {
    expect(id("GET", "/networks/docker-host-1/bridge")).toEqual(["NetworkInspect", { id: "docker-host-1/bridge" }]);
    expect(id("POST", "/networks/docker-host-1/bridge/connect")).toEqual(["NetworkConnect", { id: "docker-host-1/bridge" }]);
    expect(id("POST", "/networks/create")).toEqual(["NetworkCreate", {}]);
  });

  it("keeps container ids to one segment", () => {
    expect(id("GET", "/containers/web/json")).toEqual(["ContainerInspect", { id: "web" }]);
    expect(id("GET", "/containers/a/b/json")).toEqual({ unknown: "path" });
  });

  it("tells an unknown path from a wrong method", () => {
    expect(id("GET", "/containers/create")).toEqual({ unknown: "method" });
    expect(id("PATCH", "/containers/web/json")).toEqual({ unknown: "method" });
    expect(id("GET", "/nothing/here")).toEqual({ unknown: "path" });
  });
});
