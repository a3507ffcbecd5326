/**
 * The tenant proxy's own settings reader, run at preview over the files the manager will get: one
 * reader for both, so a stack whose proxy would refuse to start on the VM is refused before
 * anything is created, whatever setting the infra's own checks have not learnt of yet. The
 * addresses are placeholders (documentation ranges); the TLS files are the stack's, made later.
 */
import { readSettings } from "../tenant-proxy/src/settings.ts";
import { SettingsError } from "../tenant-proxy/src/settings-table.ts";
import { parseEnvironmentFile } from "./environment-file.ts";
import { ENGINE_PORT } from "./ports.ts";
import { managerPlan, PATHS, type ProxySettings } from "./roles.ts";
import type { Sandbox } from "./sandbox.ts";

export interface ProxyCheckInput {
  proxy: ProxySettings;
  nodes: number;
  osd: boolean;
  mtu: number;
  sandbox: Sandbox;
}

/** The proxy's refusal of the manager's rendered settings (naming the variable), or undefined when it would start. */
export function proxyRefusal(input: ProxyCheckInput): string | undefined {
  const plan = managerPlan({
    hostname: "manager",
    proxy: input.proxy,
    engines: Array.from({ length: input.nodes }, (_, index) => ({ address: `192.0.2.${10 + index}`, port: ENGINE_PORT })),
    nfsAddress: "192.0.2.2",
    osd: { enabled: input.osd },
    mtu: input.mtu,
    sandbox: input.sandbox,
  });
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
    if (error instanceof SettingsError) return error.message;
    throw error;
  }
}
