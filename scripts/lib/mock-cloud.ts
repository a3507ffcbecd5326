/**
 * A pretend OpenStack for the Pulumi program: `pulumi.runtime.setMocks` plus a recorder that keeps,
 * for every registered resource, its inputs, its parent and the URNs it depends on (explicit
 * dependsOn and those implied by its inputs), and the raw serialized inputs, where secrets still
 * carry Pulumi's secret marker.
 *
 * The mock answers the way the cloud would, as far as the program can tell: ports get a private
 * address (their fixed one, or one derived from the resource name, so the same resource gets the
 * same address in every run), floating IPs a public one, key and certificate resources PEM-shaped
 * text, lookups the ids of what they look up.
 *
 * setMocks must run before the program's modules are imported (they capture the runtime at import),
 * so the program is loaded with a dynamic import after `startMockCloud` resolves.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { refusalOf } from "./provider-rules.ts";
import type { RecordedResource } from "./recorded-resource.ts";

export type { RecordedResource };

export const SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d";

export interface MockCloud {
  /**
   * Runs `build` (awaited, so a program loaded by a dynamic import is registered in full) and returns what it registered (only this run's resources); rejects with what the
   * pretend cloud refused, as `pulumi up` would fail.
   */
  record(build: () => unknown | Promise<unknown>): Promise<RecordedResource[]>;
  /** The cloud publishes an image under `name` (a newer one, when the name had one): lookups now find `id`. */
  publishImage(name: string, id: string): void;
  /** A volume the cloud holds (a deployed stack's), found by name; undefined removes it. */
  holdVolume(name: string, volume: { size: number; volumeType: string } | undefined): void;
  /**
   * Ports the cloud holds (a deployed stack's), found by name: every other one is forgotten. They
   * are the stack's own project's unless `project` names another, whose ports Neutron lists to an
   * admin's credentials all the same.
   */
  holdPorts(names: string[], project?: string): void;
  /** Awaits an output's value. */
  value<T>(output: pulumi.Output<T>): Promise<T>;
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** 10.42.x.y from the name: stable across runs, and collisions are 1 in 65,000. */
function privateAddressFor(name: string): string {
  const hash = digest(name);
  return `10.42.${hash[0]}.${(hash[1]! % 250) + 2}`;
}

function publicAddressFor(name: string): string {
  const hash = digest(name);
  return `203.0.113.${(hash[0]! % 250) + 2}`;
}

const pem = (kind: string, name: string) => `-----BEGIN ${kind}-----\n${digest(name).toString("base64")}\n-----END ${kind}-----\n`;

function outputsFor(type: string, name: string, inputs: Record<string, any>): Record<string, unknown> {
  switch (type) {
    case "openstack:networking/port:Port":
      return { ...inputs, allFixedIps: [inputs.fixedIps?.[0]?.ipAddress ?? privateAddressFor(name)] };
    case "openstack:networking/floatingIp:FloatingIp":
      return { ...inputs, address: publicAddressFor(name) };
    case "tls:index/privateKey:PrivateKey":
      return {
        ...inputs,
        privateKeyPem: pem("PRIVATE KEY", name),
        privateKeyOpenssh: pem("OPENSSH PRIVATE KEY", name),
        // As the tls provider writes it: the key type follows the algorithm asked for.
        publicKeyOpenssh: `${inputs.algorithm === "ED25519" ? "ssh-ed25519" : "ssh-rsa"} ${digest(name).toString("base64")}\n`,
      };
    case "tls:index/certRequest:CertRequest":
      return { ...inputs, certRequestPem: pem("CERTIFICATE REQUEST", name) };
    case "tls:index/selfSignedCert:SelfSignedCert":
    case "tls:index/locallySignedCert:LocallySignedCert":
      return { ...inputs, certPem: pem("CERTIFICATE", name) };
    case "command:remote:Command":
      return { ...inputs, stdout: `${name} done\n`, stderr: "" };
    default:
      return inputs;
  }
}

/** Image name -> the id of its most recent upload; a name never published resolves to image-<name>. */
const publishedImages = new Map<string, string>();

/** Volume name -> what Cinder reports of it. */
const heldVolumes = new Map<string, { size: number; volumeType: string }>();
/** The project the stack's credentials are scoped to. */
export const MOCK_PROJECT_ID = "project-berth";
/** Port name -> the project of the port Neutron lists. */
const heldPorts = new Map<string, string>();

function answer(token: string, inputs: Record<string, any>): Record<string, unknown> {
  switch (token) {
    case "openstack:blockstorage/getVolumeV3:getVolumeV3": {
      // data_source_openstack_blockstorage_volume_v3.go: exactly one match, else an error.
      const volume = heldVolumes.get(inputs.name);
      if (!volume) {
        // The SDK rethrows a failed invoke's gRPC details: over gRPC they are the message, in
        // setMocks the error is handed over as it is.
        const message = "Your openstack_blockstorage_volume_v3 query returned no results";
        throw Object.assign(new Error(message), { details: message });
      }
      return { ...inputs, id: `volume-${inputs.name}`, ...volume };
    }
    case "openstack:networking/getPortIds:getPortIds": {
      // data_source_openstack_networking_port_ids_v2.go: every match, none an empty list; Neutron
      // lists an admin every project's ports unless project_id is given.
      const project = heldPorts.get(inputs.name);
      const listed = project !== undefined && (inputs.projectId === undefined || inputs.projectId === project);
      return { ...inputs, id: `ports-${inputs.name}`, ids: listed ? [`port-${inputs.name}`] : [] };
    }
    case "openstack:identity/getAuthScope:getAuthScope":
      // data_source_openstack_identity_auth_scope_v3.go: the token's project.
      return { ...inputs, id: inputs.name, projectId: MOCK_PROJECT_ID };
    case "openstack:images/getImage:getImage":
      return { ...inputs, id: publishedImages.get(inputs.name) ?? `image-${inputs.name}` };
    case "openstack:networking/getNetwork:getNetwork":
      return { ...inputs, id: `network-${inputs.name ?? inputs.networkId}` };
    case "openstack:networking/getSubnet:getSubnet":
      return { ...inputs, id: inputs.subnetId, cidr: "10.42.0.0/16" };
    default:
      throw new Error(`the mock cloud does not answer ${token}`);
  }
}

/** The pretend cloud's answers, for setMocks here and for the pretend engine in pulumi-engine.ts. */
export const cloudMocks: pulumi.runtime.Mocks = {
  newResource: ({ type, name, inputs }) => {
    const refusal = refusalOf(type, inputs);
    if (refusal) throw new Error(`${name}: ${refusal}`);
    return { id: `${name}-id`, state: outputsFor(type, name, inputs) };
  },
  call: ({ token, inputs }) => answer(token, inputs),
};

/** `mocks`: the pretend cloud's answers; the local cloud (scripts/local-cloud) answers with real keys and its own addresses. */
export async function startMockCloud(project = "berth", stack = "test", mocks: pulumi.runtime.Mocks = cloudMocks): Promise<MockCloud> {
  const byUrn = new Map<string, RecordedResource>();
  let inFlight = 0;
  const refusals: string[] = [];
  await pulumi.runtime.setMocks(mocks, project, stack, false);
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(request: any, callback: (error: unknown, response: any) => void): void };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (request, callback) => {
    inFlight++;
    register(request, (error, response) => {
      inFlight--;
      if (error) refusals.push(String((error as Error).message ?? error));
      if (response) {
        const urn: string = response.getUrn();
        // The engine's rule: one URN per resource in a deployment ("Duplicate resource URN").
        if (byUrn.has(urn)) refusals.push(`Duplicate resource URN '${urn}'; try giving it a unique name`);
        const serialized = request.getObject().toJavaScript() as Record<string, unknown>;
        byUrn.set(urn, {
          urn,
          type: request.getType(),
          name: request.getName(),
          inputs: unwrapSecrets(serialized) as Record<string, any>,
          serialized,
          outputs: unwrapSecrets(response.getObject()?.toJavaScript() ?? {}) as Record<string, any>,
          parent: request.getParent(),
          dependencies: request.getDependenciesList(),
          propertyDependencies: propertyDependenciesOf(request),
          options: {
            ignoreChanges: request.getIgnorechangesList(),
            replaceOnChanges: request.getReplaceonchangesList(),
            protect: request.getProtect() ?? false,
            retainOnDelete: request.getRetainondelete() ?? false,
            deleteBeforeReplace: request.getDeletebeforereplace(),
            additionalSecretOutputs: request.getAdditionalsecretoutputsList(),
          },
        });
      }
      callback(error, response);
    });
  };

  async function settled(): Promise<void> {
    for (let quiet = 0; quiet < 5; ) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      quiet = inFlight === 0 ? quiet + 1 : 0;
    }
  }

  return {
    async record(build) {
      byUrn.clear();
      refusals.length = 0;
      await build();
      await settled();
      if (refusals.length > 0) throw new Error(`the cloud refused:\n${refusals.join("\n")}`);
      return [...byUrn.values()];
    },
    publishImage: (name, id) => publishedImages.set(name, id),
    holdVolume: (name, volume) => (volume ? heldVolumes.set(name, volume) : heldVolumes.delete(name)),
    holdPorts: (names, project = MOCK_PROJECT_ID) => {
      heldPorts.clear();
      for (const name of names) heldPorts.set(name, project);
    },
    value: (output) => new Promise((resolve) => output.apply((value) => resolve(value))),
  };
}

/** The value with every secret marker removed. */
export function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (SECRET_SIGNATURE in record && "value" in record) return unwrapSecrets(record.value);
    return Object.fromEntries(Object.entries(record).map(([key, inner]) => [key, unwrapSecrets(inner)]));
  }
  return value;
}

/** True when the serialized value (or any part of it) is marked secret. */
export function containsSecret(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(containsSecret);
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    return record[SECRET_SIGNATURE] !== undefined || Object.values(record).some(containsSecret);
  }
  return false;
}

function propertyDependenciesOf(request: {
  getPropertydependenciesMap(): { forEach(callback: (value: { getUrnsList(): string[] }, key: string) => void): void };
}): Record<string, string[]> {
  const dependencies: Record<string, string[]> = {};
  request.getPropertydependenciesMap().forEach((value, key) => {
    dependencies[key] = value.getUrnsList();
  });
  return dependencies;
}
