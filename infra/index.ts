/**
 * The Pulumi program (Pulumi.yaml main): read and validate the stack's configuration, build the
 * cluster, export what the operator and the smoke scripts need. All the work is in cluster.ts.
 */
import { deployBerth } from "./cluster.ts";
import { parseConfig, readStackConfig } from "./config.ts";
import { checkAgainstCloud } from "./deployed.ts";

const config = parseConfig(readStackConfig());
// Before any resource: what the deployed stack cannot become (a smaller or retyped data volume).
await checkAgainstCloud(config);
const berth = deployBerth("berth", config);

export const managerAddress = berth.managerPublicAddress;
export const managerPrivateAddress = berth.managerPrivateAddress;
export const proxyEndpoint = berth.proxyEndpoint;
export const nodeAddresses = berth.nodeAddresses;
export const nfsAddress = berth.nfsAddress;
/** The 20.10 line's etcd VM (no output on the current line, which has none). */
export const etcdAddress = berth.etcdAddress;
export const engineLine = berth.engineLine;
export const caCertificate = berth.caCertificate;
export const inventory = berth.inventory;
export const onboardingHint = berth.onboardingHint;
export const proxyHealth = berth.proxyHealth;
/** The stack's own SSH key (provisioning logs in with it): `pulumi stack output --show-secrets sshPrivateKey`. */
export const sshPrivateKey = berth.sshPrivateKey;
