/**
 * The proxy bundle as the manager runs it: its source map is a file of its own beside the bundle
 * (inline, it was 8.6 MiB of every process's heap), and Debian's Node 18 started with
 * --enable-source-maps still reads it, so a stack trace names the TypeScript sources.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { buildProxyBundle } from "../../scripts/build-proxy.ts";
import { NODE18, NODE18_LIBS } from "../../scripts/lib/node18.ts";
import { runCommand } from "../../scripts/harness/index.ts";

const dir = mkdtempSync(join(tmpdir(), "berth-bundle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("keeps the source map out of the bundle, and Node 18 maps a stack trace through it", async () => {
  const bundle = await buildProxyBundle(join(dir, "berth-proxy.cjs"));
  const code = readFileSync(bundle, "utf8");
  expect(code).not.toContain("sourceMappingURL=data:");
  expect(code.trimEnd().endsWith("//# sourceMappingURL=berth-proxy.cjs.map")).toBe(true);
  expect(existsSync(`${bundle}.map`)).toBe(true);

  // startProxy without settings fails inside the bundle: its stack must point into main.ts.
  const script = `require(${JSON.stringify(bundle)}).startProxy(undefined).catch((error) => { console.log(error.stack); });`;
  const result = await runCommand([NODE18, "--enable-source-maps", "-e", script], { env: { LD_LIBRARY_PATH: NODE18_LIBS } });
  expect(result.stdout).toMatch(/at (Object\.)?startProxy \(.*\/src\/main\.ts:\d+:\d+\)/);
});

// A manager whose map is missing (or unreadable) must still run the proxy: Node 18.20 only
// debug-logs a map it cannot read (lib/internal/source_map/source_map_cache.js, sourceMapFromFile)
// and leaves the trace on the bundle's own lines. The provisioning refuses a missing map anyway
// (its SHA-256 check); this is what a restart between the bundle's and the map's install sees.
it("runs the bundle on Node 18 with --enable-source-maps when its map is missing", async () => {
  const bundle = await buildProxyBundle(join(dir, "without-map", "berth-proxy.cjs"));
  rmSync(`${bundle}.map`);
  const script = `require(${JSON.stringify(bundle)}).startProxy(undefined).catch((error) => { console.log(error.stack); });`;
  const result = await runCommand([NODE18, "--enable-source-maps", "-e", script], { env: { LD_LIBRARY_PATH: NODE18_LIBS } });
  expect(result.stderr).toBe("");
  expect(result.stdout).toMatch(/at (Object\.)?startProxy \(.*\/without-map\/berth-proxy\.cjs:\d+:\d+\)/);
});
