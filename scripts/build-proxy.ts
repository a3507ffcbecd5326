/**
 * Bundles the tenant proxy into one file, tenant-proxy/dist/berth-proxy.cjs, that runs on the
 * manager's distribution Node.js (Debian 12: Node 18) with no node_modules beside it. Its source
 * map is a file of its own beside it (`<bundle>.map`): inline, the map was 8.6 MiB of heap in every
 * proxy process. The manager gets both; Node started with --enable-source-maps, as the manager's unit
 * starts it (PROXY_PROCESS in infra/roles.ts), reads the map at start-up (about 3 MiB) and maps stack
 * traces through it; without the file, traces name the bundle's own lines.
 */
import { build } from "esbuild";
import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const BUNDLE_PATH = fileURLToPath(new URL("../tenant-proxy/dist/berth-proxy.cjs", import.meta.url));

export async function buildProxyBundle(outfile = BUNDLE_PATH): Promise<string> {
  await build({
    entryPoints: [fileURLToPath(new URL("../tenant-proxy/src/main.ts", import.meta.url))],
    outfile,
    bundle: true,
    platform: "node",
    target: "node18",
    format: "cjs",
    sourcemap: "linked",
    legalComments: "none",
    logLevel: "warning",
    banner: { js: "#!/usr/bin/env node" },
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outfile = await buildProxyBundle();
  console.log(`built ${outfile} (${Math.round(statSync(outfile).size / 1024)} KiB)`);
}
