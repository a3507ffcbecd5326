/**
 * What the cluster-state tests share: two real engines in cluster mode behind a proxy with static
 * tokens (`token-<tenant>-0123`) and a quota file, health checks every 500 ms and short timeouts,
 * so that the state's waits and resyncs show within a test; and plain API calls as a tenant.
 */
import { type Engine, startEngines } from "../../scripts/harness/index.ts";
import { type TestProxy, startTestProxy } from "./proxy.ts";
import type { TestDir } from "./test-dir.ts";

export interface StateCluster {
  engines: Engine[];
  proxy: TestProxy;
}

export async function startStateCluster(dir: TestDir, tenants: string[], quota: unknown): Promise<StateCluster> {
  const quotaFile = dir.file("quota.json", quota);
  const tokensFile = dir.file(
    "tokens.json",
    tenants.map((tenant) => ({ token: `token-${tenant}-0123`, user: `user-${tenant}`, tenant })),
  );
  const engines = await startEngines(2, { tcp: true });
  const nodesFile = dir.file("cluster.ips", `${engines.map((engine) => `${engine.name} ${engine.address}:2375`).join("\n")}\n`);
  try {
    const proxy = await startTestProxy(undefined, {
      BERTH_NODES_FILE: nodesFile,
      BERTH_VOLUME_BACKEND: "shared-dir",
      BERTH_VOLUME_ROOT: dir.path,
      BERTH_AUTH_BACKEND: "static",
      BERTH_TOKENS_FILE: tokensFile,
      SWARM_ENFORCE_QUOTA: "true",
      SWARM_QUOTA_FILE: quotaFile,
      BERTH_HEALTH_INTERVAL_MS: "500",
      BERTH_FANOUT_TIMEOUT_MS: "2000",
      BERTH_ENGINE_TIMEOUT_MS: "3000",
    });
    return { engines, proxy };
  } catch (error) {
    await Promise.all(engines.map((engine) => engine.stop()));
    throw error;
  }
}

export async function stopStateCluster(cluster: Partial<StateCluster>): Promise<void> {
  await cluster.proxy?.stop();
  await Promise.all((cluster.engines ?? []).map((engine) => engine.stop()));
}

/** One API call to the proxy as the tenant, its JSON answer read. */
export async function asTenant(proxy: TestProxy, tenant: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`http://127.0.0.1:${proxy.port}/v1.41${path}`, {
    method,
    headers: { "x-auth-token": `token-${tenant}-0123`, "x-auth-tenantid": tenant, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text && response.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text };
}
