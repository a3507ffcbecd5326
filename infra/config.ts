/**
 * The stack's configuration: every `berth:*` key, typed and validated before any resource exists.
 * A bad stack file is answered with every problem at once, each naming its key and what it expects,
 * because a half-created cluster is far more expensive than reading a list of errors.
 *
 * `parseConfig` is pure (values in, BerthConfig or ConfigError out); `readStackConfig` is the only
 * part that touches Pulumi's runtime configuration and the environment.
 */
import { existsSync, readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { basename } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { checkFixedAddresses, cidrsOverlap, isWholeInternet, parseCidr, effectiveMtu, type Cidr } from "./net.ts";
import { DEFAULT_CONTAINER_ADDRESS_POOL, DEFAULT_OVERLAY_ADDRESS_POOL } from "./render.ts";
// The proxy's own readers of its files: a stack the proxy would refuse is refused at preview.
import { OPERATIONS } from "../tenant-proxy/src/operations.ts";
import { type ApiFilterFile, disabledOperations } from "../tenant-proxy/src/policy/api-filter.ts";
import { flavorsSchema } from "../tenant-proxy/src/policy/flavors.ts";
import { quotaSchema } from "../tenant-proxy/src/policy/quota.ts";
import { MTU_RANGE } from "../tenant-proxy/src/settings-table.ts";
import { DEFAULT_PROXY_PORT, ENGINE_PORT, SSH_PORT } from "./ports.ts";
import { proxyRefusal } from "./proxy-check.ts";
import { PATHS, type ProxySettings } from "./roles.ts";
import { type Sandbox, sandboxSchema } from "./sandbox.ts";
import { ENGINE_LINE_DEFAULTS, type EngineLine, dockerVersionProblem, engineLineSchema } from "./engine-line.ts";

export const DEFAULT_BUNDLE = "tenant-proxy/dist/berth-proxy.cjs";
export const DEFAULT_SSH_USER = "debian";
export const DEFAULT_NETWORK_CIDR = "10.42.0.0/24";
export const DEFAULT_DNS_SERVERS = ["1.1.1.1", "9.9.9.9"];
export const DEFAULT_NFS_DATA_VOLUME_SIZE = 20;
export const DEFAULT_OSD_IMAGE = "openstorage/osd";

/** One VM's shape. */
export interface HostConfig {
  flavor: string;
  image: string;
  /** Boot volume size in GB; 0 boots from the flavor's ephemeral disk. */
  volumeSize: number;
  /** A floating IP of its own (only the manager needs one: it is the bastion). */
  floatingIp: boolean;
}

export interface NodeConfig extends HostConfig {
  /** The key in `berth:nodes`: hostname, engine Name in `docker info`, and part of every resource name. */
  name: string;
  /** A fixed private address, when the operator wants one. */
  fixedIp?: string;
}

/** `mtu`: the VMs' network MTU when the operator knows better than Neutron's `mtu` attribute. */
export type NetworkConfig =
  | { kind: "new"; cidr: Cidr; dnsServers: string[]; mtu?: number }
  | { kind: "existing"; networkId: string; subnetId: string; mtu?: number };

export interface ProxyConfig extends ProxySettings {
  /**
   * The bundled proxy on this machine and its SHA-256 (the provisioning insists on it), and the
   * same for its source map beside it (`<bundle>.map`), which stack traces on the manager read.
   */
  bundle: { path: string; sha256: string; sourceMap: { path: string; sha256: string } };
  /** Extra names the proxy's certificate is valid for, besides the manager's addresses. */
  dnsNames: string[];
}

export interface BerthConfig {
  project: string;
  stack: string;
  /** Prefix of every OpenStack name, so several stacks share a project without clashing. */
  namePrefix: string;
  sshUser: string;
  /** berth:engineLine: which Docker the nodes run, and how overlays span them (infra/engine-line.ts). */
  engineLine: EngineLine;
  manager: HostConfig;
  /** The etcd VM: only the 20.10 line has one (its engines' cluster store). */
  etcd?: HostConfig;
  nfs: HostConfig & { dataVolumeSize: number; dataVolumeType?: string };
  /** Sorted by name: the order never depends on how the stack file lists them. */
  nodes: NodeConfig[];
  externalNetwork: string;
  network: NetworkConfig;
  access: { ssh: Cidr[]; proxy: Cidr[]; containers: Cidr[] };
  /**
   * The operator's own login key (berth:publicKey), written to every VM's authorized_keys by
   * provisioning. Provisioning itself logs in with the stack's generated key.
   */
  operatorKey?: string;
  dockerVersion: string;
  /** berth:containerAddressPool: the engines' pool for bridge networks (--default-address-pool). */
  containerAddressPool: Cidr;
  /** berth:overlayAddressPool: the current line's swarm's pool for overlay networks, in /24s; none on 20.10. */
  overlayAddressPool?: Cidr;
  osd: { enabled: boolean; image: string };
  /** berth:sandbox: what stands between a tenant's container and the node's kernel (infra/sandbox.ts). */
  sandbox: Sandbox;
  proxy: ProxyConfig;
}

export interface ConfigIssue {
  key: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(`the stack configuration is not valid:\n${issues.map((issue) => `  ${issue.key}: ${issue.message}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** What `parseConfig` reads: the stack's values and the environment. */
export interface RawConfig {
  project: string;
  stack: string;
  /** `berth:*` values without the namespace, as Pulumi holds them (objects parsed from JSON). */
  values: Record<string, unknown>;
  /** The value of `openstack:cloud`, if set. */
  openstackCloud?: string;
  env: Record<string, string | undefined>;
}

export interface ParseOptions {
  /** Reads the proxy bundle and its source map (to hash them); the default reads the file system, relative to the cwd. */
  readBundle?: (path: string) => Buffer | undefined;
}

const DNS_LABEL = /^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/;
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const PUBLIC_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+=*( [^\n]*)?$/;
const ROLE_NAMES = new Set(["manager", "etcd", "nfs"]);

const name = (what: string) =>
  z
    .string({ error: `expected ${what}` })
    .trim()
    .min(1, `expected ${what}`);
const flavor = name("a flavor name");
const image = name("an image name");
const volumeSize = z.int({ error: "expected a whole number of GB (0 = the flavor's ephemeral disk)" }).min(0).max(16384);
const cidrList = z
  .array(z.string({ error: "expected CIDRs such as 203.0.113.0/24" }), { error: "expected a list of CIDRs such as [203.0.113.0/24]" })
  .min(1, "required: list at least one CIDR (there is no open default)");

/** The VMs' network MTU: the engines' --mtu and the proxy's networkMtu, so the proxy's range. */
const networkMtu = z
  .int({ error: "expected the network's MTU in bytes (e.g. 1450 on VXLAN, 1442 on Geneve)" })
  .min(MTU_RANGE.min)
  .max(MTU_RANGE.max)
  .optional();
const NEW_NETWORK = z.strictObject(
  {
    cidr: z.string().default(DEFAULT_NETWORK_CIDR),
    dnsServers: z
      .array(z.ipv4({ error: "expected DNS server addresses" }))
      .min(1)
      .default(DEFAULT_DNS_SERVERS),
    mtu: networkMtu,
  },
  { error: "expected {cidr, dnsServers} for a new network, or {networkId, subnetId} for an existing one" },
);
const EXISTING_NETWORK = z.strictObject({ networkId: name("the existing network's id"), subnetId: name("the existing subnet's id"), mtu: networkMtu });

/**
 * `pulumi config set --path 'berth:nodes.docker-host-4' '{}'` stores the string "{}": with --path,
 * the CLI reads only true, false and integers as anything but strings (pulumi config set --help).
 * Setting one of the node's keys makes the map; a string is refused with the form that works.
 */
const NODE_GIVEN_AS_STRING =
  "expected the node's settings, got a string (`pulumi config set --path` stores '{}' as text): add a node with one of its keys, " +
  "e.g. `pulumi config set --path 'berth:nodes.docker-host-4.floatingIp' false`, or write it in the stack file";

/** A project id of digits and one `e` is a number to YAML: the error says to quote it. */
const projectId = z
  .string({
    error: (issue) =>
      typeof issue.input === "number"
        ? "expected an OpenStack project id, got a number: quote it in the stack file ('1234e567...'), YAML reads such an id as a number"
        : "expected an OpenStack project id",
  })
  .trim()
  .optional();

const roleHost = { flavor: flavor.optional(), image: image.optional(), volumeSize: volumeSize.optional() };

/** One schema per top-level key, so every error path starts at the key the operator wrote. */
const SCHEMAS = {
  namePrefix: z.string().regex(DNS_LABEL, "expected lowercase letters, digits and '-', starting with a letter, at most 32").optional(),
  flavor: flavor.optional(),
  engineLine: engineLineSchema.default("20.10"),
  // Defaults by engine line (Checks.host): Debian 12 for 20.10, Debian 13 for current.
  image: image.optional(),
  volumeSize: volumeSize.default(0),
  sshUser: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "expected a Unix user name")
    .default(DEFAULT_SSH_USER),
  manager: z.strictObject(roleHost).default({}),
  etcd: z.strictObject({ ...roleHost, floatingIp: z.boolean().default(false) }).default({ floatingIp: false }),
  nfs: z
    .strictObject({
      ...roleHost,
      floatingIp: z.boolean().default(false),
      dataVolumeSize: z.int({ error: "expected a whole number of GB" }).min(1).default(DEFAULT_NFS_DATA_VOLUME_SIZE),
      dataVolumeType: name("a volume type").optional(),
    })
    .default({ floatingIp: false, dataVolumeSize: DEFAULT_NFS_DATA_VOLUME_SIZE }),
  nodes: z
    .record(
      z.string().regex(DNS_LABEL, "a node name is a lowercase DNS label (letters, digits, '-'; at most 32; e.g. docker-host-1)"),
      z.strictObject(
        { ...roleHost, floatingIp: z.boolean().default(false), fixedIp: z.ipv4({ error: "expected an IPv4 address" }).optional() },
        { error: (issue) => (issue.code === "invalid_type" && typeof issue.input === "string" ? NODE_GIVEN_AS_STRING : undefined) },
      ),
      { error: (issue) => (issue.input === undefined ? "required: a map of docker nodes by name, e.g. {docker-host-1: {}}" : undefined) },
    )
    .refine((nodes) => Object.keys(nodes).length > 0, "required: at least one docker node"),
  externalNetwork: name("the name of the external (floating IP) network"),
  // A new network or an existing one, told apart by the keys given, so that an error speaks of
  // the shape the operator meant.
  network: z.unknown().transform((value, context) => {
    const existing = typeof value === "object" && value !== null && ("networkId" in value || "subnetId" in value);
    const result = (existing ? EXISTING_NETWORK : NEW_NETWORK).safeParse(value ?? {});
    if (result.success) return result.data;
    for (const issue of result.error.issues) context.addIssue({ code: "custom", message: issue.message, path: issue.path });
    return z.NEVER;
  }),
  sshAllowedCidrs: cidrList,
  proxyAllowedCidrs: cidrList,
  containerPortCidrs: z.array(z.string()).min(1).default(["0.0.0.0/0"]),
  allowWholeInternet: z.boolean().default(false),
  publicKey: z.string().trim().regex(PUBLIC_KEY, "expected an OpenSSH public key line (ssh-ed25519 AAAA... comment)").optional(),
  sshPrivateKey: z
    .never({
      error:
        "no longer used: `pulumi up` provisions with the stack's own key (secret output sshPrivateKey), so rotating yours never rebuilds a VM; berth:publicKey alone puts your key on every VM: `pulumi config rm berth:sshPrivateKey`",
    })
    .optional(),
  // Defaults by engine line, and judged against it (Checks.dockerVersion).
  dockerVersion: z
    .string()
    .regex(/^[0-9A-Za-z.+~:*-]+$/, "expected a Debian version pattern such as 20.10.*")
    .optional(),
  containerAddressPool: z.string().default(DEFAULT_CONTAINER_ADDRESS_POOL),
  overlayAddressPool: z.string().default(DEFAULT_OVERLAY_ADDRESS_POOL),
  osdPlugin: z.boolean().default(false),
  osdImage: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._/:@-]*$/, "expected a docker image reference")
    .default(DEFAULT_OSD_IMAGE),
  sandbox: sandboxSchema.default("none"),
  proxy: z.strictObject(
    {
      port: z.int().min(1).max(65535).default(DEFAULT_PROXY_PORT),
      bundle: z.string().min(1).default(DEFAULT_BUNDLE),
      // The proxy trims every variable and folds this one's case (FDCS wrote `Keystone`): so does the stack.
      authBackend: z
        .string()
        .trim()
        .toLowerCase()
        .pipe(z.enum(["keystone", "none"], { error: "expected keystone or none (the static tokens backend is for the local cluster)" }))
        .default("keystone"),
      // What a URL and a project id are, and what each backend needs, is the proxy's to judge (proxy-check.ts).
      // Trimmed as the proxy trims its variables: blanks around a value are no reason to refuse it.
      keystoneUrl: z.string({ error: "expected the Keystone v3 URL, e.g. https://keystone.example:5000/v3" }).trim().optional(),
      adminTenantId: projectId,
      membersTenantId: projectId,
      multiTenant: z.boolean().default(true),
      networkAuthorization: z.boolean().default(true),
      flavors: flavorsSchema.optional(),
      quota: quotaSchema.optional(),
      apiFilter: z
        .unknown()
        .superRefine((filter, context) => {
          const result = disabledOperations(filter, OPERATIONS);
          if ("error" in result) context.addIssue({ code: "custom", message: `${result.error} (FDCS operation names such as networkcreate)` });
        })
        .transform((filter) => filter as ApiFilterFile)
        .optional(),
      dnsNames: z.array(z.string().regex(DNS_NAME, "expected a DNS name")).default([]),
    },
    { error: "required: the tenant proxy's settings, at least {keystoneUrl: https://keystone.example:5000/v3}" },
  ),
} as const;

type Parsed = { [K in keyof typeof SCHEMAS]: z.output<(typeof SCHEMAS)[K]> };

function issuePath(key: string, path: ReadonlyArray<PropertyKey>): string {
  return [`berth:${key}`, ...path.map(String)].join(".");
}

/** zod's own words, except for a bad record key, where it says "Invalid key in record" and hides why. */
function messageOf(issue: z.core.$ZodIssue): string {
  return issue.code === "invalid_key" ? issue.issues.map((inner) => inner.message).join("; ") : issue.message;
}

type Shape = { flavor?: string; image?: string; volumeSize?: number };

function defaultNamePrefix(project: string, stack: string): string {
  const prefix = `${project}-${stack}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .slice(0, 32)
    .replace(/-+$/, "");
  return prefix || "berth";
}

function readBundleFromDisk(path: string): Buffer | undefined {
  return existsSync(path) ? readFileSync(path) : undefined;
}

/**
 * The checks that span keys. Each runs on whatever parsed, so one run reports every problem; the
 * caller throws if any was found, and only then are the pieces known to be complete.
 */
class Checks {
  readonly issues: ConfigIssue[] = [];
  constructor(
    private readonly raw: RawConfig,
    private readonly values: Partial<Parsed>,
  ) {}

  problem(key: string, message: string): void {
    this.issues.push({ key, message });
  }

  credentials(): void {
    const { openstackCloud, env } = this.raw;
    if (!openstackCloud && !env.OS_CLOUD && !env.OS_AUTH_URL) {
      this.problem(
        "openstack:cloud",
        "no OpenStack credentials: set openstack:cloud to an entry of clouds.yaml, or export OS_CLOUD or the OS_* variables (OS_AUTH_URL, ...)",
      );
    }
  }

  cidrs(key: "sshAllowedCidrs" | "proxyAllowedCidrs" | "containerPortCidrs", what?: string): Cidr[] | undefined {
    const texts = this.values[key];
    if (!texts) return undefined;
    const cidrs = texts.flatMap((text, index) => {
      const cidr = parseCidr(text);
      if (!cidr) this.problem(`berth:${key}.${index}`, `"${text}" is not a CIDR (e.g. 203.0.113.0/24)`);
      return cidr ? [cidr] : [];
    });
    const open = what && this.values.allowWholeInternet === false ? cidrs.find(isWholeInternet) : undefined;
    if (open)
      this.problem(
        `berth:${key}`,
        `${open.text} opens ${what} to the whole internet: list your own ranges, or set berth:allowWholeInternet to true to accept that`,
      );
    // One range written twice (203.0.113.5/24 and 203.0.113.0/24) admits nothing more: keep it
    // once, since a second, identical rule is refused by Neutron and clashes in resource names.
    return [...new Map(cidrs.map((cidr) => [cidr.text, cidr])).values()];
  }

  network(): NetworkConfig | undefined {
    const network = this.values.network;
    if (!network) return undefined;
    if ("networkId" in network) return { kind: "existing", ...network };
    const cidr = parseCidr(network.cidr);
    if (!cidr || cidr.version !== 4 || cidr.prefix > 29) {
      this.problem("berth:network.cidr", `expected an IPv4 CIDR of at least 8 addresses for the new private network, got "${network.cidr}"`);
      return undefined;
    }
    return { kind: "new", cidr, dnsServers: network.dnsServers, ...(network.mtu !== undefined ? { mtu: network.mtu } : {}) };
  }

  /** A pool networks are cut from in /24s: IPv4, /8 to /24, and never the nodes' own network, which a network of it would shadow in its containers. */
  private addressPool(
    key: "containerAddressPool" | "overlayAddressPool",
    text: string,
    networks: string,
    network: NetworkConfig | undefined,
  ): Cidr | undefined {
    const pool = parseCidr(text);
    if (!pool || pool.version !== 4 || pool.prefix > 24 || pool.prefix < 8) {
      this.problem(`berth:${key}`, `expected an IPv4 CIDR between /8 and /24 (${networks} are /24s), got "${text}"`);
      return undefined;
    }
    if (network?.kind === "new" && cidrsOverlap(pool, network.cidr)) {
      this.problem(`berth:${key}`, `${pool.text} overlaps the private network ${network.cidr.text}: choose another range for ${networks}`);
      return undefined;
    }
    return pool;
  }

  /** The engines' pool for bridge networks. */
  containerAddressPool(network: NetworkConfig | undefined): Cidr | undefined {
    const text = this.values.containerAddressPool;
    return text === undefined ? undefined : this.addressPool("containerAddressPool", text, "container networks", network);
  }

  /**
   * The current line's swarm's pool for overlay networks, given at `swarm init` (a swarm keeps the
   * pool it was made with; Docker's own is 10.0.0.0/8, which holds the default private network):
   * IPv4, /24 or wider, and clear of the nodes' network and the engines' bridge pool, which an
   * overlay's subnet would shadow in every container attached to it. The 20.10 line has no swarm.
   */
  overlayAddressPool(network: NetworkConfig | undefined, containerPool: Cidr | undefined): Cidr | undefined {
    if (this.line() !== "current") {
      if (this.raw.values.overlayAddressPool !== undefined)
        this.problem("berth:overlayAddressPool", "the 20.10 line has no swarm (its overlays go through etcd): remove berth:overlayAddressPool from the stack");
      return undefined;
    }
    const text = this.values.overlayAddressPool;
    const pool = text === undefined ? undefined : this.addressPool("overlayAddressPool", text, "overlay networks", network);
    if (!pool) return undefined;
    if (containerPool && cidrsOverlap(pool, containerPool)) {
      this.problem(
        "berth:overlayAddressPool",
        `${pool.text} overlaps berth:containerAddressPool ${containerPool.text}: choose ranges apart for bridge and overlay networks`,
      );
      return undefined;
    }
    return pool;
  }

  /** The engine line, or 20.10 while berth:engineLine itself is wrong (its own problem). */
  line(): EngineLine {
    return this.values.engineLine ?? "20.10";
  }

  host(shape: Shape | undefined, key: string): Omit<HostConfig, "floatingIp"> | undefined {
    const { flavor, volumeSize } = this.values;
    const image = this.values.image ?? ENGINE_LINE_DEFAULTS[this.line()].image;
    if (!shape || volumeSize === undefined) return undefined;
    const flavorName = shape.flavor ?? flavor;
    if (!flavorName) {
      this.problem(`berth:${key}.flavor`, "required: a flavor for this VM (or set berth:flavor for all of them)");
      return undefined;
    }
    return { flavor: flavorName, image: shape.image ?? image, volumeSize: shape.volumeSize ?? volumeSize };
  }

  nodes(network: NetworkConfig | undefined): NodeConfig[] | undefined {
    if (!this.values.nodes) return undefined;
    const nodes = Object.entries(this.values.nodes)
      .sort(([a], [b]) => a.localeCompare(b))
      .flatMap(([nodeName, node]) => {
        if (ROLE_NAMES.has(nodeName)) this.problem(`berth:nodes.${nodeName}`, `"${nodeName}" is the name of the ${nodeName} VM; choose another node name`);
        const shape = this.host(node, `nodes.${nodeName}`);
        return shape ? [{ name: nodeName, ...shape, floatingIp: node.floatingIp, ...(node.fixedIp ? { fixedIp: node.fixedIp } : {}) }] : [];
      });
    if (network?.kind === "new") {
      const requests = nodes.flatMap((node) => (node.fixedIp ? [{ name: node.name, address: node.fixedIp }] : []));
      for (const [nodeName, message] of checkFixedAddresses(network.cidr, requests)) this.problem(`berth:nodes.${nodeName}.fixedIp`, message);
    }
    return nodes;
  }

  dockerVersion(): string | undefined {
    if (!("dockerVersion" in this.values) || this.values.engineLine === undefined) return undefined;
    const version = this.values.dockerVersion ?? ENGINE_LINE_DEFAULTS[this.values.engineLine].dockerVersion;
    const problem = dockerVersionProblem(this.values.engineLine, version);
    if (problem) this.problem("berth:dockerVersion", problem);
    return problem ? undefined : version;
  }

  /**
   * What only the 20.10 line has: the etcd VM (its engines' cluster store) and the OpenStorage
   * plugin, which keeps its state in that etcd. A stack of the current line naming either is told
   * so, rather than getting a VM or a plugin that nothing uses.
   */
  currentLineExtras(): void {
    if (this.values.engineLine !== "current") return;
    if (this.raw.values.etcd !== undefined)
      this.problem("berth:etcd", "the current line has no etcd VM (its nodes form a swarm instead): remove berth:etcd from the stack");
    if (this.values.osdPlugin)
      this.problem(
        "berth:osdPlugin",
        "the OpenStorage plugin keeps its state in the 20.10 line's etcd: turn it off on the current line (NFS volumes work without it)",
      );
  }

  /**
   * The OpenStorage plugin cannot run on a remapped engine: it runs --privileged --net=host, which
   * dockerd 20.10 refuses under --userns-remap (moby v20.10 daemon/daemon_unix.go
   * verifyPlatformContainerSettings), and a volume driver unaware of the mapping makes directories
   * the tenants' remapped root cannot write (Docker's userns-remap docs, "known limitations").
   */
  osdSandbox(): void {
    if (this.values.osdPlugin && this.values.sandbox === "userns") {
      this.problem(
        "berth:osdPlugin",
        "the OpenStorage plugin cannot run with berth:sandbox userns (dockerd refuses its --privileged --net=host container on a remapped engine): turn one of them off",
      );
    }
  }

  /**
   * The stack's own rules for the proxy (its port beside SSH and the engines, no authentication on
   * a world-open proxy, the bundle), then the proxy's reader over the files the manager will get:
   * the proxy alone judges its settings, whatever else in the stack is wrong.
   */
  proxy(proxyCidrs: Cidr[] | undefined, readBundle: (path: string) => Buffer | undefined): ProxyConfig | undefined {
    const proxy = this.values.proxy;
    if (!proxy) {
      this.proxyKeysThatParsed();
      return undefined;
    }
    if (proxy.port === SSH_PORT || proxy.port === ENGINE_PORT) {
      this.problem("berth:proxy.port", `${proxy.port} is taken by ${proxy.port === SSH_PORT ? "SSH" : "the engines"}; the FDCS port is ${DEFAULT_PROXY_PORT}`);
    }
    if (proxy.authBackend === "none" && proxyCidrs?.some(isWholeInternet)) {
      this.problem(
        "berth:proxy.authBackend",
        "none lets anyone who reaches the proxy use every engine: refused while berth:proxyAllowedCidrs admits the whole internet",
      );
    }
    const settings = proxySettings(proxy);
    this.proxyWouldStart(settings);
    const bundle = readBundle(proxy.bundle);
    if (!bundle) {
      this.problem("berth:proxy.bundle", `${proxy.bundle} does not exist: run \`npm run build\` first, or point the key at the bundled proxy`);
      return undefined;
    }
    const sourceMapPath = `${proxy.bundle}.map`;
    const sourceMap = readBundle(sourceMapPath);
    if (!sourceMap) {
      this.problem(
        "berth:proxy.bundle",
        `${sourceMapPath}, the bundle's source map, does not exist: build the bundle with \`npm run build\`, which writes both`,
      );
      return undefined;
    }
    const linked = linkedSourceMap(bundle);
    const installedAs = basename(PATHS.proxySourceMap);
    if (linked !== installedAs) {
      this.problem(
        "berth:proxy.bundle",
        `${proxy.bundle} names its source map ${linked ?? "nowhere"}, but the manager installs it as ${installedAs} beside the bundle, where Node looks for the name the bundle's last line gives: build it with \`npm run build\``,
      );
      return undefined;
    }
    const sha256 = (content: Buffer) => createHash("sha256").update(content).digest("hex");
    return {
      ...settings,
      bundle: { path: proxy.bundle, sha256: sha256(bundle), sourceMap: { path: sourceMapPath, sha256: sha256(sourceMap) } },
      dnsNames: proxy.dnsNames,
    };
  }

  /**
   * One wrong key fails the whole berth:proxy object: the proxy's reader still judges the keys that
   * parsed, each wrong one standing in as if not given (its default), its refusal dropped.
   */
  private proxyKeysThatParsed(): void {
    const given = this.raw.values.proxy;
    if (typeof given !== "object" || given === null || Array.isArray(given)) return;
    const refused: string[] = [];
    const fields = Object.fromEntries(
      Object.entries(SCHEMAS.proxy.shape).map(([key, schema]) => {
        const result = (schema as z.ZodType).safeParse((given as Record<string, unknown>)[key]);
        if (!result.success) refused.push(`berth:proxy.${key}`);
        return [key, result.success ? result.data : (schema as z.ZodType).parse(undefined)];
      }),
    );
    this.proxyWouldStart(proxySettings(fields as Parsed["proxy"]), refused);
  }

  /**
   * The proxy's own reader over the manager's files. A stack key the files are also made of that
   * did not parse (already a problem of its own) stands in as a value the stack accepts, so its
   * error never hides the proxy's refusal of the proxy's keys; a refusal of the stand-in is dropped.
   */
  private proxyWouldStart(proxy: ProxySettings, refusedProxyKeys: string[] = []): void {
    const { nodes, network, osdPlugin, sandbox } = this.values;
    const standIns = new Set([
      ...refusedProxyKeys,
      ...(nodes ? [] : ["berth:nodes"]),
      ...(network ? [] : ["berth:network.mtu"]),
      ...(osdPlugin === undefined ? ["berth:osdPlugin"] : []),
      ...(sandbox ? [] : ["berth:sandbox"]),
    ]);
    const refusal = proxyRefusal({
      proxy,
      nodes: nodes ? Object.keys(nodes).length : 1,
      osd: osdPlugin ?? false,
      mtu: effectiveMtu(network?.mtu, undefined),
      sandbox: sandbox ?? "none",
    });
    if (refusal && !standIns.has(refusal.key)) this.problem(refusal.key, refusal.message);
  }
}

function proxySettings(proxy: Parsed["proxy"]): ProxySettings {
  return {
    port: proxy.port,
    authBackend: proxy.authBackend,
    multiTenant: proxy.multiTenant,
    networkAuthorization: proxy.networkAuthorization,
    ...(proxy.keystoneUrl ? { keystoneUrl: proxy.keystoneUrl } : {}),
    ...(proxy.adminTenantId ? { adminTenantId: proxy.adminTenantId } : {}),
    ...(proxy.membersTenantId ? { membersTenantId: proxy.membersTenantId } : {}),
    ...(proxy.flavors ? { flavors: proxy.flavors } : {}),
    ...(proxy.quota ? { quota: proxy.quota } : {}),
    ...(proxy.apiFilter ? { apiFilter: proxy.apiFilter } : {}),
  };
}

/** Validates the stack's values; throws ConfigError listing every problem. */
export function parseConfig(raw: RawConfig, options: ParseOptions = {}): BerthConfig {
  const known = new Set(Object.keys(SCHEMAS));
  const parsed: Record<string, unknown> = {};
  const schemaIssues: ConfigIssue[] = [];
  for (const key of Object.keys(raw.values)) {
    if (!known.has(key)) schemaIssues.push({ key: `berth:${key}`, message: `unknown key (known keys: ${[...known].join(", ")})` });
  }
  for (const [key, schema] of Object.entries(SCHEMAS)) {
    const result = (schema as z.ZodType).safeParse(raw.values[key]);
    if (result.success) parsed[key] = result.data;
    else for (const issue of result.error.issues) schemaIssues.push({ key: issuePath(key, issue.path), message: messageOf(issue) });
  }
  const values = parsed as Partial<Parsed>;
  const checks = new Checks(raw, values);
  checks.issues.push(...schemaIssues);
  checks.credentials();
  const ssh = checks.cidrs("sshAllowedCidrs", "SSH");
  const proxyCidrs = checks.cidrs("proxyAllowedCidrs", "the tenant proxy");
  const containers = checks.cidrs("containerPortCidrs");
  const network = checks.network();
  const nodes = checks.nodes(network);
  const containerAddressPool = checks.containerAddressPool(network);
  const overlayAddressPool = checks.overlayAddressPool(network, containerAddressPool);
  const manager = checks.host(values.manager, "manager");
  const etcd = checks.line() === "20.10" ? checks.host(values.etcd, "etcd") : undefined;
  const nfs = checks.host(values.nfs, "nfs");
  const dockerVersion = checks.dockerVersion();
  const proxy = checks.proxy(proxyCidrs, options.readBundle ?? readBundleFromDisk);
  checks.osdSandbox();
  checks.currentLineExtras();
  if (checks.issues.length > 0) throw new ConfigError(checks.issues);

  // No issue means every key parsed and every piece above was built.
  const v = values as Parsed;
  return {
    project: raw.project,
    stack: raw.stack,
    namePrefix: v.namePrefix ?? defaultNamePrefix(raw.project, raw.stack),
    sshUser: v.sshUser,
    engineLine: v.engineLine,
    manager: { ...manager!, floatingIp: true },
    ...(etcd ? { etcd: { ...etcd, floatingIp: v.etcd.floatingIp } } : {}),
    nfs: {
      ...nfs!,
      floatingIp: v.nfs.floatingIp,
      dataVolumeSize: v.nfs.dataVolumeSize,
      ...(v.nfs.dataVolumeType ? { dataVolumeType: v.nfs.dataVolumeType } : {}),
    },
    nodes: nodes!,
    externalNetwork: v.externalNetwork,
    network: network!,
    access: { ssh: ssh!, proxy: proxyCidrs!, containers: containers! },
    ...(v.publicKey !== undefined ? { operatorKey: v.publicKey } : {}),
    dockerVersion: dockerVersion!,
    containerAddressPool: containerAddressPool!,
    ...(overlayAddressPool ? { overlayAddressPool } : {}),
    osd: { enabled: v.osdPlugin, image: v.osdImage },
    sandbox: v.sandbox,
    proxy: proxy!,
  };
}

/** Pulumi keeps objects as JSON text; plain strings stay strings. */
function decode(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const STRING_KEYS = new Set([
  "engineLine",
  "namePrefix",
  "flavor",
  "image",
  "sshUser",
  "externalNetwork",
  "publicKey",
  "sshPrivateKey",
  "dockerVersion",
  "containerAddressPool",
  "overlayAddressPool",
  "osdImage",
  "sandbox",
]);

/** Reads the running stack's `berth:*` configuration and environment. */
export function readStackConfig(): RawConfig {
  const values: Record<string, unknown> = {};
  for (const [fullKey, text] of Object.entries(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith("berth:")) continue;
    const key = fullKey.slice("berth:".length);
    values[key] = STRING_KEYS.has(key) ? text : decode(text);
  }
  const openstackCloud = new pulumi.Config("openstack").get("cloud");
  return {
    project: pulumi.getProject(),
    stack: pulumi.getStack(),
    values,
    env: process.env,
    ...(openstackCloud ? { openstackCloud } : {}),
  };
}

/**
 * The source map a bundle's last line names (`//# sourceMappingURL=<name>`, as esbuild's linked
 * source maps end): Node resolves it against the bundle's own path, and reads nothing else.
 */
function linkedSourceMap(bundle: Buffer): string | undefined {
  const lastLine = bundle.toString("utf8").trimEnd().split("\n").at(-1) ?? "";
  return /^\/\/# sourceMappingURL=(\S+)$/.exec(lastLine)?.[1];
}
