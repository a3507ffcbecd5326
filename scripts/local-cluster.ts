/**
 * The whole berth service on one machine (scripts/README.md, "The local cluster"): `up` stands up the FDCS
 * topology with real daemons (a manager with the tenant proxy and Keystone, two docker hosts, an
 * NFS host, an etcd host, each a network namespace on a bridge of its own) configured from the same
 * render functions as the OpenStack VMs, and writes .local/ for tenants and the smoke scripts;
 * `down` removes everything it made; `status` shows each part's health (non-zero exit if any is
 * down); `leftovers` lists whatever of it is still present (non-zero exit if anything is).
 * Run as root: npm run cluster:up | cluster:status | cluster:down | cluster:leftovers.
 */
import { down, reboot, status, up } from "./local-cluster/cluster.ts";
import { clusterLayout } from "./local-cluster/layout.ts";
import { leftovers } from "./local-cluster/leftovers.ts";

const USAGE = "usage: tsx scripts/local-cluster.ts up|down|status|leftovers|reboot <docker host>";

async function main(command: string | undefined, argument: string | undefined): Promise<number> {
  const layout = clusterLayout();
  switch (command) {
    case "up":
      await up(layout);
      return 0;
    case "down":
      await down(layout);
      return 0;
    case "status":
      return (await status(layout)) ? 0 : 1;
    case "reboot":
      if (!argument) break;
      await reboot(layout, argument);
      return 0;
    case "leftovers": {
      const left = await leftovers(layout);
      for (const thing of left) console.log(`left behind: ${thing}`);
      console.log(left.length === 0 ? "nothing of the local cluster is left" : `${left.length} thing(s) of the local cluster left behind`);
      return left.length === 0 ? 0 : 1;
    }
  }
  console.error(USAGE);
  return 2;
}

main(process.argv[2], process.argv[3]).then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`local cluster ${process.argv[2]} failed: ${error.message}`);
    if (process.argv[2] === "up")
      console.error("What was started is left for inspection (logs under .local/cluster/hosts/): `up` rebuilds it, `down` removes it.");
    process.exit(1);
  },
);
