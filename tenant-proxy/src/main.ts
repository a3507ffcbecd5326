/**
 * Start-up: read and validate the settings (a bad one stops the proxy with exit code 2 and a
 * message naming it), build the identity backend, the cluster of engines (one engine is a cluster
 * of one), the resolver, the quota guard, the call limits and the pipeline, listen, and stop
 * cleanly on SIGTERM or SIGINT. Run directly (`npm run proxy`, or the bundle built from this file
 * that the VMs and the local cluster run on Node 18); exported `startProxy` is what the tests use to
 * run it in-process.
 */
import { jsonLinesAudit, type AuditLog } from "./audit.ts";
import type { Authenticator } from "./identity/identity.ts";
import { KeystoneAuthenticator } from "./identity/keystone.ts";
import { StaticTokenAuthenticator } from "./identity/static-tokens.ts";
import { createPipeline } from "./pipeline.ts";
import { QuotaGuard } from "./rewrite/quota-guard.ts";
import { createServer } from "./server.ts";
import { readSettings } from "./settings.ts";
import { SettingsError } from "./settings-table.ts";
import { Cluster } from "./upstream/cluster.ts";
import { CallLimits } from "./call-limits.ts";
import { ClusterState } from "./upstream/node-state.ts";
import { Resolver } from "./resolver.ts";
import type { Settings } from "./settings-types.ts";

export interface RunningProxy {
  /** host:port the proxy listens on (the real port when 0 was asked for). */
  address: { host: string; port: number };
  stop(): Promise<void>;
}

function authenticatorFor(settings: Settings): Authenticator | undefined {
  const { auth } = settings;
  switch (auth.backend) {
    case "keystone":
      return new KeystoneAuthenticator({ ...auth, adminTenantId: settings.adminTenantId, membersTenantId: settings.membersTenantId });
    case "static":
      return new StaticTokenAuthenticator(auth.tokens, settings.adminTenantId);
    case "none":
      return undefined;
  }
}

export async function startProxy(settings: Settings, audit: AuditLog = jsonLinesAudit()): Promise<RunningProxy> {
  const { nodes, named, healthIntervalMs, fanOutTimeoutMs } = settings.engines;
  const cluster = new Cluster(nodes, named, { timeoutMs: settings.engineTimeoutMs, healthIntervalMs, fanOutTimeoutMs });
  // Read in the background from now, beside the first health checks: creates wait for it, nothing else does.
  const state = new ClusterState(cluster, { resyncIntervalMs: settings.engines.resyncIntervalMs, readyTimeoutMs: fanOutTimeoutMs });
  state.start();
  await cluster.start();
  const pipeline = createPipeline({
    settings,
    authenticator: authenticatorFor(settings),
    cluster,
    resolver: new Resolver(cluster),
    quota: new QuotaGuard(state, settings.policy.quota),
    calls: new CallLimits(settings.callLimits),
    audit,
  });
  const { server, close } = createServer(pipeline, { tls: settings.tls, headersTimeoutMs: settings.headersTimeoutMs });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(settings.listen.port, settings.listen.host, () => resolve());
  }).catch((error: unknown) => {
    state.stop();
    cluster.stop();
    throw error;
  });
  const bound = server.address() as { address: string; port: number };
  return {
    address: { host: bound.address, port: bound.port },
    stop: async () => {
      await close();
      state.stop();
      cluster.stop();
    },
  };
}

async function main(): Promise<void> {
  const audit = jsonLinesAudit();
  let settings: Settings;
  try {
    settings = readSettings(process.env);
  } catch (error) {
    if (error instanceof SettingsError) {
      process.stderr.write(`berth-proxy: bad setting ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  process.on("uncaughtException", (error) => audit.error("uncaught exception", { error: String(error?.stack ?? error) }));
  process.on("unhandledRejection", (error) => audit.error("unhandled rejection", { error: String((error as Error)?.stack ?? error) }));
  const proxy = await startProxy(settings, audit);
  const scheme = settings.tls ? "https" : "http";
  audit.info("berth tenant proxy listening", {
    listen: `${scheme}://${proxy.address.host}:${proxy.address.port}`,
    engines: settings.engines.nodes.map(
      (node) => `${node.name}=${node.address.kind === "unix" ? `unix://${node.address.path}` : `tcp://${node.address.host}:${node.address.port}`}`,
    ),
    scheduler: settings.engines.named ? settings.scheduler : undefined,
    auth: settings.auth.backend,
    multiTenant: settings.multiTenant,
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      audit.info("stopping", { signal });
      void proxy.stop().then(() => process.exit(0));
    });
  }
}

const invokedDirectly = process.argv[1] !== undefined && /(^|\/)(main\.ts|berth-proxy\.c?js)$/.test(process.argv[1]);
if (invokedDirectly) void main();
