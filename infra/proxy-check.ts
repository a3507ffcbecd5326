/**
 * The tenant proxy's own settings reader, run at preview over the files the manager will get: one
 * judge for both, so a stack whose proxy would refuse to start on the VM is refused before
 * anything is created, and infra restates none of the proxy's rules. The refusal names the stack
 * key the operator wrote, mapped back from the proxy's setting. The addresses are placeholders
 * (documentation ranges); the TLS files are the stack's, made later.
 */
import { readSettings } from "../tenant-proxy/src/settings.ts";
import { type SettingKey, SettingsError, settingNamed } from "../tenant-proxy/src/settings-table.ts";
import { parseEnvironmentFile } from "./environment-file.ts";
import { ENGINE_PORT } from "./ports.ts";
import { managerPlan, PATHS, type ProxySettings, type RolePlan } from "./roles.ts";
import type { Sandbox } from "./sandbox.ts";

export interface ProxyCheckInput {
  proxy: ProxySettings;
  nodes: number;
  osd: boolean;
  mtu: number;
  sandbox: Sandbox;
}

/** The stack key each setting the manager's proxy.env writes comes from; the rest are the stack's own making. */
const STACK_KEYS: Partial<Record<SettingKey, string>> = {
  listen: "berth:proxy.port",
  authBackend: "berth:proxy.authBackend",
  keystoneUrl: "berth:proxy.keystoneUrl",
  adminTenantId: "berth:proxy.adminTenantId",
  membersTenantId: "berth:proxy.membersTenantId",
  multiTenant: "berth:proxy.multiTenant",
  networkAuthorization: "berth:proxy.networkAuthorization",
  flavorsEnforced: "berth:proxy.flavors",
  flavorsFile: "berth:proxy.flavors",
  quotaEnforced: "berth:proxy.quota",
  quotaFile: "berth:proxy.quota",
  apiFilterFile: "berth:proxy.apiFilter",
  volumeBackend: "berth:osdPlugin",
  tenantRuntime: "berth:sandbox",
  volumeOwner: "berth:sandbox",
  networkMtu: "berth:network.mtu",
};

const stackKeyOf = (key: SettingKey | undefined): string | undefined => (key === undefined ? undefined : STACK_KEYS[key]);

/** The proxy's words in the operator's: each variable named by the stack key that sets it. */
function inStackWords(message: string): string {
  return message.replace(/\b(?:BERTH|SWARM)_[A-Z0-9_]+\b/g, (name) => stackKeyOf(settingNamed(name)) ?? name);
}

/** The proxy's refusal of the manager's rendered settings, under the stack key it comes from; undefined when it would start. */
export function proxyRefusal(input: ProxyCheckInput): { key: string; message: string } | undefined {
  let plan: RolePlan;
  try {
    plan = managerPlan({
      hostname: "manager",
      proxy: input.proxy,
      engines: Array.from({ length: input.nodes }, (_, index) => ({ address: `192.0.2.${10 + index}`, port: ENGINE_PORT })),
      nfsAddress: "192.0.2.2",
      osd: { enabled: input.osd },
      mtu: input.mtu,
      sandbox: input.sandbox,
    });
  } catch (error) {
    // A value the manager's files cannot hold (a newline, a quote): the renderer names it by its setting key.
    const message = (error as Error).message;
    const key = stackKeyOf(/^(\w+):/.exec(message)?.[1] as SettingKey | undefined) ?? "berth:proxy";
    return { key, message: `the manager's proxy.env cannot hold it: ${message}` };
  }
  const files = new Map(plan.files.map((file) => [file.path, Buffer.from(file.content)]));
  const certificates = new Set<string>([PATHS.serverCert, PATHS.serverKey]);
  const read = (path: string): Buffer => {
    const content = files.get(path) ?? (certificates.has(path) ? Buffer.from("made by the stack") : undefined);
    if (content === undefined) throw new Error(`the manager gets no file ${path}`);
    return content;
  };
  try {
    readSettings(parseEnvironmentFile(read(PATHS.proxyEnv).toString("utf8")), { read, exists: (path) => files.has(path) });
    return undefined;
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    return {
      key: stackKeyOf(settingNamed(error.setting)) ?? "berth:proxy",
      message: `${inStackWords(error.problem)} (the tenant proxy would not start with this ${error.setting})`,
    };
  }
}
