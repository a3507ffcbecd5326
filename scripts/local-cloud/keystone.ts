/**
 * The cloud's Keystone, which the stack's proxy authenticates tenants against (berth:proxy
 * keystoneUrl): on OpenStack it is the cloud's own endpoint, here the test harness's Keystone (real
 * keystone under uwsgi, sqlite) on the host's bridge address, as the local cluster runs it. Its
 * daemon is kept in a ledger under the state folder, which `down` releases.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { identify, type Keystone, releaseAll, type Run, startSharedKeystone } from "../harness/index.ts";
import { TOKEN_LIFETIME_SECONDS } from "../local-cluster/layout.ts";
import type { CloudLayout } from "./machines.ts";

export const KEYSTONE_PORT = 5000;
const keystoneDir = (layout: CloudLayout) => join(layout.stateDir, "keystone");

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/v3`, { signal: AbortSignal.timeout(3000) })).ok;
  } catch {
    return false;
  }
}

/** Starts Keystone unless it already answers; resolves with its URL, and its handle when this call started it. */
export async function keystoneUp(layout: CloudLayout): Promise<{ url: string; started?: Keystone }> {
  const url = `http://${layout.hostAddress}:${KEYSTONE_PORT}`;
  if (await answers(url)) return { url };
  mkdirSync(keystoneDir(layout), { recursive: true });
  const run: Run = {
    dir: keystoneDir(layout),
    index: Number(layout.hostAddress.split(".")[1]),
    owner: identify(process.pid),
    bridge: layout.bridge,
    subnetPrefix: layout.hostAddress.split(".").slice(0, 2).join("."),
  };
  // The local cluster's token lifetime, so the tenants' config dirs keep working between runs.
  return { url, started: await startSharedKeystone(run, { host: layout.hostAddress, port: KEYSTONE_PORT, tokenExpirationSeconds: TOKEN_LIFETIME_SECONDS }) };
}

export async function keystoneDown(layout: CloudLayout): Promise<string[]> {
  return existsSync(keystoneDir(layout)) ? releaseAll(keystoneDir(layout)) : [];
}
