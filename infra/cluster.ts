/**
 * The whole FDCS cluster on OpenStack (admin guide steps 1-16): network, security groups, key pair,
 * etcd, the NFS server, the docker nodes and the manager with the tenant proxy, provisioned in
 * dependency order through the manager as bastion. `deployBerth` takes a validated configuration,
 * so tests can build several clusters in one process.
 */
import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import type { BerthConfig, HostConfig } from "./config.ts";
import type { EngineLine } from "./engine-line.ts";
import { buildInventory, type Inventory } from "./inventory.ts";
import { ENGINE_PORT, ETCD_CLIENT_PORT } from "./ports.ts";
import {
  authorizedKeysFile,
  cloudInitFor,
  etcdPlan,
  managerPlan,
  nfsPlan,
  nodePlan,
  NFS_SHARES,
  PATHS,
  provisionScriptFor,
  type ManagerPlanInput,
  type NodeOverlays,
  type RolePlan,
} from "./roles.ts";
import { securityGroupRules, type GroupRole } from "./rules.ts";
import { Host, type HostArgs } from "./components/host.ts";
import { Network } from "./components/network.ts";
import { Provisioner, sshConnection, type SshAccess, type SshHost } from "./components/provisioner.ts";
import { ProxyTls } from "./components/proxy-tls.ts";
import { SecurityGroups } from "./components/security-groups.ts";
import { Swarm } from "./components/swarm.ts";
import { TenantProxy } from "./components/tenant-proxy.ts";

export class BerthCluster extends pulumi.ComponentResource {
  readonly managerPublicAddress: pulumi.Output<string>;
  readonly managerPrivateAddress: pulumi.Output<string>;
  /** tcp://<manager>:<port>, for DOCKER_HOST. */
  readonly proxyEndpoint: pulumi.Output<string>;
  /** Node name -> private address. */
  readonly nodeAddresses: pulumi.Output<Record<string, string>>;
  readonly nfsAddress: pulumi.Output<string>;
  /** The 20.10 line's etcd VM; the current line has none. */
  readonly etcdAddress?: pulumi.Output<string>;
  /** berth:engineLine, as the stack runs it. */
  readonly engineLine: EngineLine;
  /** The CA tenants verify the proxy with. */
  readonly caCertificate: pulumi.Output<string>;
  readonly inventory: pulumi.Output<Inventory>;
  readonly onboardingHint: pulumi.Output<string>;
  /** The stack's SSH private key (secret): provisioning's login, and the operator's fallback. */
  readonly sshPrivateKey: pulumi.Output<string>;
  /** What the post-deploy health check saw. */
  readonly proxyHealth: pulumi.Output<string>;

  constructor(name: string, config: BerthConfig, opts?: pulumi.ComponentResourceOptions) {
    super("berth:infra:Cluster", name, {}, opts);
    const parent = { parent: this };
    const prefix = config.namePrefix;

    const network = new Network(`${name}-network`, { namePrefix: prefix, externalNetwork: config.externalNetwork, network: config.network }, parent);
    const groups = new SecurityGroups(
      `${name}-security`,
      {
        namePrefix: prefix,
        rules: securityGroupRules({
          sshCidrs: config.access.ssh,
          proxyCidrs: config.access.proxy,
          containerCidrs: config.access.containers,
          proxyPort: config.proxy.port,
          line: config.engineLine,
        }),
      },
      parent,
    );

    // The stack's own key: provisioning logs in with it, and nothing in the config changes it, so
    // rotating the operator's key (berth:publicKey) re-provisions the VMs with the new
    // authorized_keys, logged in with a key they already accept. RSA rather than Ed25519: every
    // Nova release accepts it. The Nova key pair puts it on a VM at first boot; servers ignore later
    // key-pair changes (key_pair is replace-only), so a new name prefix replaces only the key pair.
    const stackKey = new tls.PrivateKey(`${name}-ssh-key`, { algorithm: "RSA", rsaBits: 4096 }, parent);
    const privateKey = pulumi.secret(stackKey.privateKeyOpenssh);
    const access: SshAccess = { user: config.sshUser, privateKey };
    // Replaced create-first (the new pair has the new name): a delete-first replacement would make
    // the engine replace every server, as it checks dependents without their ignoreChanges.
    const keyPair = new openstack.compute.Keypair(`${name}-keypair`, { name: prefix, publicKey: stackKey.publicKeyOpenssh }, parent);
    const authorizedKeys = stackKey.publicKeyOpenssh.apply((stackPublicKey) =>
      authorizedKeysFile(config.sshUser, [stackPublicKey, ...(config.operatorKey ? [config.operatorKey] : [])]),
    );

    const images = new Map<string, pulumi.Output<string>>();
    const imageId = (image: string) => {
      if (!images.has(image)) images.set(image, openstack.images.getImageOutput({ name: image, mostRecent: true }, parent).id);
      return images.get(image)!;
    };
    const host = (resourceName: string, role: GroupRole, serverName: string, shape: HostConfig, extra: Pick<HostArgs, "userData" | "dataVolume" | "fixedIp">) =>
      new Host(
        resourceName,
        {
          role,
          serverName,
          flavor: shape.flavor,
          imageId: imageId(shape.image),
          volumeSize: shape.volumeSize,
          networkId: network.networkId,
          subnetId: network.subnetId,
          securityGroupIds: [groups.ids[role]!],
          keyPairName: keyPair.name,
          ...(shape.floatingIp ? { floatingIpPool: config.externalNetwork, routed: network.routed } : {}),
          ...extra,
        },
        parent,
      );

    // Each VM's SSH host key, made by the stack and given to the VM in its user data, so that every
    // connection `pulumi up` makes pins it (the provisioning carries the proxy's TLS key).
    const hostKey = (resourceName: string) => new tls.PrivateKey(`${resourceName}-host-key`, { algorithm: "ED25519" }, parent);
    const userDataWith = (key: tls.PrivateKey, plan: pulumi.Output<RolePlan>) =>
      pulumi.secret(
        pulumi.all([plan, key.privateKeyOpenssh, key.publicKeyOpenssh]).apply(([p, privateKey, publicKey]) => cloudInitFor(p, { privateKey, publicKey })),
      );
    const sshHost = (target: Host, key: tls.PrivateKey, address = target.privateAddress): SshHost => ({ address, hostKey: key.publicKeyOpenssh });

    // The 20.10 line's cluster store; the current line's nodes form a swarm instead (below).
    const etcdName = etcdServerName(prefix);
    const planEtcd = (address: pulumi.Input<string>) => pulumi.output(address).apply((a) => etcdPlan({ hostname: etcdName, address: a, clusterToken: prefix }));
    const etcdKey = config.etcd ? hostKey(`${name}-etcd`) : undefined;
    const etcd =
      config.etcd && etcdKey
        ? host(`${name}-etcd`, "etcd", etcdName, config.etcd, { userData: ({ privateAddress }) => userDataWith(etcdKey, planEtcd(privateAddress)) })
        : undefined;
    const overlays: pulumi.Output<NodeOverlays> = etcd
      ? etcd.privateAddress.apply((etcdAddress): NodeOverlays => ({ line: "20.10", etcdAddress }))
      : pulumi.output<NodeOverlays>({ line: "current" });

    const nfsName = nfsServerName(prefix);
    const planNfs = (volumeId: pulumi.Input<string>) =>
      pulumi
        .all([network.cidr, volumeId])
        .apply(([clientCidr, dataVolumeId]) => nfsPlan({ hostname: nfsName, clientCidr, dataVolumeId, dataVolumeSize: config.nfs.dataVolumeSize }));
    const nfsKey = hostKey(`${name}-nfs`);
    const nfs = host(`${name}-nfs`, "nfs", nfsName, config.nfs, {
      dataVolume: { size: config.nfs.dataVolumeSize, ...(config.nfs.dataVolumeType ? { type: config.nfs.dataVolumeType } : {}) },
      userData: ({ dataVolumeId }) => userDataWith(nfsKey, planNfs(dataVolumeId!)),
    });

    const planNode = (nodeName: string, address: pulumi.Input<string>) =>
      pulumi.all([address, overlays, nfs.privateAddress, network.cidr, network.mtu]).apply(([a, nodeOverlays, nfsAddress, clusterCidr, mtu]) =>
        nodePlan({
          hostname: nodeName,
          address: a,
          overlays: nodeOverlays,
          nfsAddress,
          clusterCidr,
          dockerVersion: config.dockerVersion,
          containerAddressPool: config.containerAddressPool.text,
          clusterId: prefix,
          osd: config.osd,
          mtu,
          sandbox: config.sandbox,
        }),
      );
    const nodes = config.nodes.map((node) => {
      const key = hostKey(`${name}-node-${node.name}`);
      return {
        config: node,
        key,
        host: host(`${name}-node-${node.name}`, "node", `${prefix}-${node.name}`, node, {
          ...(node.fixedIp ? { fixedIp: node.fixedIp } : {}),
          userData: ({ privateAddress }) => userDataWith(key, planNode(node.name, privateAddress)),
        }),
      };
    });

    const managerName = `${prefix}-manager`;
    const engines = pulumi
      .all(nodes.map((node) => node.host.privateAddress))
      .apply((addresses) => addresses.map((address) => ({ address, port: ENGINE_PORT })));
    const managerInput = pulumi.all([engines, nfs.privateAddress, network.mtu]).apply(
      ([list, nfsAddress, mtu]): ManagerPlanInput => ({
        hostname: managerName,
        proxy: config.proxy,
        engines: list,
        nfsAddress,
        osd: config.osd,
        mtu,
        sandbox: config.sandbox,
      }),
    );
    const planManager = managerInput.apply(managerPlan);
    const managerKey = hostKey(`${name}-manager`);
    const manager = host(`${name}-manager`, "manager", managerName, config.manager, { userData: () => userDataWith(managerKey, planManager) });
    const bastion = manager.publicAddress!;
    const bastionHost = sshHost(manager, managerKey, bastion);

    // Through the bastion, once its floating IP routes: etcd and NFS, then the engines, then the proxy.
    const provision = (resourceName: string, target: Host, key: tls.PrivateKey, plan: pulumi.Output<RolePlan>, after: pulumi.Resource[]) =>
      new Provisioner(
        resourceName,
        {
          connection: sshConnection(access, sshHost(target, key), bastionHost),
          behindBastion: { bastion: sshConnection(access, bastionHost), target: sshHost(target, key) },
          instanceId: target.instanceId,
          builtFrom: target.builtFrom,
          script: pulumi.all([plan, authorizedKeys]).apply(([p, keys]) => provisionScriptFor(p, { files: [keys] })),
          after,
        },
        parent,
      );
    const etcdReady = etcd && etcdKey ? [provision(`${name}-etcd-provision`, etcd, etcdKey, planEtcd(etcd.privateAddress), manager.reachable)] : [];
    const nfsReady = provision(`${name}-nfs-provision`, nfs, nfsKey, planNfs(nfs.dataVolumeId!), manager.reachable);
    const nodesProvisioned = nodes.map((node) =>
      provision(`${name}-node-${node.config.name}-provision`, node.host, node.key, planNode(node.config.name, node.host.privateAddress), [
        ...etcdReady,
        nfsReady,
      ]),
    );
    // The current line's overlays span the nodes once they form a swarm: the proxy starts after it.
    // Its overlay pool is set exactly on the current line (parseConfig).
    const overlayPool = config.overlayAddressPool;
    const swarm =
      config.engineLine === "current" && overlayPool
        ? new Swarm(
            `${name}-swarm`,
            {
              connection: sshConnection(access, bastionHost),
              nodes: pulumi.all(nodes.map((node) => node.host.privateAddress.apply((address) => ({ name: node.config.name, address })))),
              nodesProvisioned,
              addressPool: overlayPool.text,
              instanceId: manager.instanceId,
              builtFrom: manager.builtFrom,
            },
            parent,
          )
        : undefined;

    const proxyTls = new ProxyTls(
      `${name}-proxy-tls`,
      { commonName: managerName, ipAddresses: [bastion, manager.privateAddress], dnsNames: config.proxy.dnsNames, clusterName: prefix },
      parent,
    );
    const proxy = new TenantProxy(
      `${name}-proxy`,
      {
        connection: sshConnection(access, bastionHost),
        instanceId: manager.instanceId,
        builtFrom: manager.builtFrom,
        files: authorizedKeys.apply((keys) => [keys]),
        manager: managerInput,
        publicAddress: bastion,
        tls: proxyTls,
        bundle: config.proxy.bundle,
        reachable: manager.reachable,
        after: [...nodesProvisioned, ...(swarm ? [swarm] : [])],
      },
      parent,
    );

    this.engineLine = config.engineLine;
    this.managerPublicAddress = bastion;
    this.managerPrivateAddress = manager.privateAddress;
    this.nfsAddress = nfs.privateAddress;
    if (etcd) this.etcdAddress = etcd.privateAddress;
    this.caCertificate = proxyTls.caCertPem;
    this.proxyHealth = proxy.health;
    this.nodeAddresses = pulumi
      .all(nodes.map((node) => node.host.privateAddress))
      .apply((addresses) => Object.fromEntries(nodes.map((node, index) => [node.config.name, addresses[index]!])));
    const nodeHosts = pulumi.all(
      nodes.map((node) =>
        pulumi.all([node.host.privateAddress, node.host.publicAddress, node.key.publicKeyOpenssh]).apply(([privateAddress, publicAddress, sshHostKey]) => ({
          name: node.config.name,
          privateAddress,
          sshHostKey: sshHostKey.trim(),
          enginePort: ENGINE_PORT,
          ...(publicAddress ? { publicAddress } : {}),
        })),
      ),
    );
    // The smoke scripts pin the same host keys as `pulumi up`.
    const etcdHost =
      etcd && etcdKey
        ? pulumi.all([etcd.privateAddress, etcd.publicAddress, etcdKey.publicKeyOpenssh]).apply(([privateAddress, publicAddress, sshHostKey]) => ({
            name: etcdName,
            privateAddress,
            ...(publicAddress ? { publicAddress } : {}),
            sshHostKey: sshHostKey.trim(),
            clientPort: ETCD_CLIENT_PORT,
          }))
        : pulumi.output(undefined);
    const hostKeys = pulumi
      .all([managerKey.publicKeyOpenssh, nfsKey.publicKeyOpenssh])
      .apply(([managerHostKey, nfsHostKey]) => ({ managerHostKey: managerHostKey.trim(), nfsHostKey: nfsHostKey.trim() }));
    const keysAndCa = pulumi.all([hostKeys, proxyTls.caCertPem]);
    this.inventory = pulumi
      .all([bastion, manager.privateAddress, nodeHosts, nfs.privateAddress, nfs.publicAddress, etcdHost, keysAndCa])
      .apply(([managerPublic, managerPrivate, nodeList, nfsAddress, nfsPublic, etcdInventory, [{ managerHostKey, nfsHostKey }, caPem]]) =>
        buildInventory({
          cluster: prefix,
          engineLine: config.engineLine,
          sshUser: config.sshUser,
          manager: { name: managerName, privateAddress: managerPrivate, publicAddress: managerPublic, sshHostKey: managerHostKey },
          nodes: nodeList,
          nfs: {
            name: nfsName,
            privateAddress: nfsAddress,
            ...(nfsPublic ? { publicAddress: nfsPublic } : {}),
            sshHostKey: nfsHostKey,
            shares: NFS_SHARES.map((share) => share.path),
          },
          ...(etcdInventory ? { etcd: etcdInventory } : {}),
          proxy: {
            port: config.proxy.port,
            authBackend: config.proxy.authBackend,
            ...(config.proxy.keystoneUrl ? { keystoneUrl: config.proxy.keystoneUrl } : {}),
          },
          ca: { pem: caPem, managerPath: PATHS.caCert, hint: "pulumi stack output caCertificate > ca.pem" },
        }),
      );
    this.proxyEndpoint = this.inventory.proxy.endpoint;
    this.onboardingHint = this.inventory.tenants.onboarding;
    this.sshPrivateKey = privateKey;
    this.registerOutputs({
      managerPublicAddress: this.managerPublicAddress,
      proxyEndpoint: this.proxyEndpoint,
      nodeAddresses: this.nodeAddresses,
      inventory: this.inventory,
      proxyHealth: this.proxyHealth,
    });
  }
}

/** The NFS server's OpenStack name. */
export const nfsServerName = (prefix: string) => `${prefix}-nfs`;
/** The etcd VM's OpenStack name (the 20.10 line's). */
export const etcdServerName = (prefix: string) => `${prefix}-etcd`;

/** Builds the cluster for a validated configuration. */
export function deployBerth(name: string, config: BerthConfig, opts?: pulumi.ComponentResourceOptions): BerthCluster {
  return new BerthCluster(name, config, opts);
}
