/**
 * A local cluster of a test file's own (`scripts/local-cluster.ts` with its folder, bridge, subnet
 * and namespace names moved), beside any developer's (10.212.0.0/16) and the harness's engines
 * (10.213.0.0/16 and up). Each file that stands one up has its own range of second octets, ten
 * wide, to which the test run's number is added: two files running at once in one run, or the same
 * file in two runs, never put one subnet on two bridges.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { clusterLayout, type ClusterLayout } from "../../scripts/local-cluster/layout.ts";
import { runCommand, type CommandResult, currentRun } from "../../scripts/harness/index.ts";
import { testDir } from "./test-dir.ts";

const SCRIPT = fileURLToPath(new URL("../../scripts/local-cluster.ts", import.meta.url));
export const TSX = fileURLToPath(new URL("../../node_modules/.bin/tsx", import.meta.url));

/** The files that stand up a cluster, by their short tag (also the names' prefix), and their subnets' first second octet. */
const SUBNET_BASES = { nf: 130, rb: 140, sc: 160, lc: 170 } as const;

export interface TestCluster {
  env: Record<string, string>;
  layout: ClusterLayout;
  /** Runs `scripts/local-cluster.ts <args>` for this cluster. */
  run(args: string[], timeoutMs?: number): Promise<CommandResult>;
}

/** `tag` is short: containerd's socket path under the cluster's folder must stay within 108 bytes. */
export function testCluster(tag: keyof typeof SUBNET_BASES): TestCluster {
  const { index } = currentRun();
  const env = {
    BERTH_LOCAL_DIR: join(testDir(tag).path, "local"),
    BERTH_CLUSTER_BRIDGE: `berth-${tag}${index}`,
    BERTH_CLUSTER_SUBNET: `10.${SUBNET_BASES[tag] + index}.0.0/16`,
    BERTH_CLUSTER_NETNS_PREFIX: `${tag}${index}-`,
  };
  return { env, layout: clusterLayout(env), run: (args, timeoutMs = 170_000) => runCommand([TSX, SCRIPT, ...args], { env, timeoutMs }) };
}
