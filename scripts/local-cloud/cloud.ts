/**
 * The local cloud's answers to the program (pulumi.runtime.Mocks): the pretend cloud of
 * scripts/lib/mock-cloud.ts (its provider rules, lookups and ids), except where a machine needs
 * the real thing: ports get addresses on the local cloud's subnet and floating IPs on its floating
 * range, kept in the state folder so each resource keeps its address; key pairs and certificates
 * are real (ssh-keygen, openssl), kept in the state folder so a second run changes nothing; the image
 * lookup knows only the local cloud's images (images.ts).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { cloudMocks, unwrapSecrets } from "../lib/mock-cloud.ts";
import { parseCidr } from "../../infra/net.ts";
import { baseReleaseOf } from "./images.ts";

export interface LocalCloudAnswers {
  /** The state folder: addresses.json and keys/. */
  stateDir: string;
  /** Where floating IPs come from, e.g. 10.95.200.0/24. */
  floatingCidr: string;
}

/** The lowest free host address of `cidr` from .10 on (below are the host's and the cache's). */
function allocate(cidr: string, taken: Set<string>): string {
  const parsed = parseCidr(cidr);
  if (!parsed) throw new Error(`${cidr} is not a CIDR`);
  const base = parsed.text.split("/")[0]!.split(".").map(Number);
  const size = 2 ** (32 - parsed.prefix);
  for (let offset = 10; offset < size - 1; offset++) {
    const value = ((base[0]! << 24) | (base[1]! << 16) | (base[2]! << 8) | base[3]!) + offset;
    const address = [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
    if (!taken.has(address)) return address;
  }
  throw new Error(`no free address left in ${cidr}`);
}

const run = (command: string, args: string[], input?: string) =>
  execFileSync(command, args, { encoding: "utf8", ...(input !== undefined ? { input } : {}), stdio: ["pipe", "pipe", "pipe"] });

/** A tls.PrivateKey's outputs, made for real. */
function privateKey(algorithm: string, curve: string | undefined, bits: number | undefined): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), "berth-key-"));
  try {
    const file = join(dir, "key");
    if (algorithm === "ECDSA") {
      if ((curve ?? "P224") !== "P256") throw new Error(`the local cloud makes ECDSA keys on P256 only, not ${curve}`);
      run("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", file]);
      const privateKeyPem = readFileSync(file, "utf8");
      return { privateKeyPem, publicKeyPem: run("openssl", ["ec", "-in", file, "-pubout"]) };
    }
    const type = algorithm === "ED25519" ? ["-t", "ed25519"] : ["-t", "rsa", "-b", String(bits ?? 2048)];
    run("ssh-keygen", [...type, "-N", "", "-C", "", "-q", "-f", file]);
    const privateKeyOpenssh = readFileSync(file, "utf8");
    const publicKeyOpenssh = readFileSync(`${file}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ") + "\n";
    // The PEM form of the same key (PKCS#8), as the tls provider also gives.
    run("ssh-keygen", ["-p", "-N", "", "-m", "PKCS8", "-q", "-f", file]);
    return { privateKeyOpenssh, publicKeyOpenssh, privateKeyPem: readFileSync(file, "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const USES: Record<string, string> = {
  cert_signing: "keyCertSign",
  crl_signing: "cRLSign",
  digital_signature: "digitalSignature",
  key_encipherment: "keyEncipherment",
};

function extensions(inputs: Record<string, any>, request?: { ipAddresses?: string[]; dnsNames?: string[] }): string {
  const uses: string[] = inputs.allowedUses ?? [];
  const keyUsage = uses.filter((use) => USES[use]).map((use) => USES[use]);
  const names = [...(request?.ipAddresses ?? []).map((ip) => `IP:${ip}`), ...(request?.dnsNames ?? []).map((dns) => `DNS:${dns}`)];
  return [
    inputs.isCaCertificate ? "basicConstraints=critical,CA:TRUE" : "basicConstraints=CA:FALSE",
    ...(keyUsage.length ? [`keyUsage=critical,${keyUsage.join(",")}`] : []),
    ...(uses.includes("server_auth") ? ["extendedKeyUsage=serverAuth"] : []),
    ...(names.length ? [`subjectAltName=${names.join(",")}`] : []),
  ].join("\n");
}

const subjectOf = (subject: Record<string, string> | undefined) =>
  `/${[subject?.organization ? `O=${subject.organization}` : "", subject?.commonName ? `CN=${subject.commonName}` : ""].filter(Boolean).join("/")}`;

/** A certificate (self-signed, or signed by the CA in the inputs), made with openssl. */
function certificate(type: string, inputs: Record<string, any>, requests: Map<string, Record<string, any>>): string {
  const dir = mkdtempSync(join(tmpdir(), "berth-cert-"));
  try {
    const days = String(Math.ceil((inputs.validityPeriodHours ?? 24) / 24));
    const ext = join(dir, "ext");
    if (type === "tls:index/selfSignedCert:SelfSignedCert") {
      writeFileSync(join(dir, "key"), inputs.privateKeyPem);
      const addext = extensions(inputs, inputs)
        .split("\n")
        .flatMap((line) => ["-addext", line]);
      return run("openssl", ["req", "-new", "-x509", "-key", join(dir, "key"), "-subj", subjectOf(inputs.subject), "-days", days, ...addext]);
    }
    const request = requests.get(inputs.certRequestPem);
    if (!request) throw new Error("a certificate for a request the local cloud did not make");
    writeFileSync(join(dir, "csr"), inputs.certRequestPem);
    writeFileSync(join(dir, "ca-key"), inputs.caPrivateKeyPem);
    writeFileSync(join(dir, "ca"), inputs.caCertPem);
    writeFileSync(ext, extensions(inputs, request));
    return run("openssl", [
      "x509",
      "-req",
      "-in",
      join(dir, "csr"),
      "-CA",
      join(dir, "ca"),
      "-CAkey",
      join(dir, "ca-key"),
      "-CAcreateserial",
      "-days",
      days,
      "-extfile",
      ext,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function certRequest(inputs: Record<string, any>): string {
  const dir = mkdtempSync(join(tmpdir(), "berth-csr-"));
  try {
    writeFileSync(join(dir, "key"), inputs.privateKeyPem);
    return run("openssl", ["req", "-new", "-key", join(dir, "key"), "-subj", subjectOf(inputs.subject)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const GET_IMAGE = "openstack:images/getImage:getImage";
const SUBNET = "openstack:networking/subnet:Subnet";
const PORT = "openstack:networking/port:Port";
const FLOATING_IP = "openstack:networking/floatingIp:FloatingIp";
const MADE = new Set([
  "tls:index/privateKey:PrivateKey",
  "tls:index/certRequest:CertRequest",
  "tls:index/selfSignedCert:SelfSignedCert",
  "tls:index/locallySignedCert:LocallySignedCert",
]);

export function localCloudMocks(answers: LocalCloudAnswers): pulumi.runtime.Mocks {
  const keysDir = join(answers.stateDir, "keys");
  mkdirSync(keysDir, { recursive: true });
  const addressesFile = join(answers.stateDir, "addresses.json");
  const addresses: Record<string, string> = existsSync(addressesFile) ? JSON.parse(readFileSync(addressesFile, "utf8")) : {};
  const requests = new Map<string, Record<string, any>>();
  let subnetCidr: string | undefined;

  const addressFor = (name: string, cidr: string, fixed?: string) => {
    const address = fixed ?? addresses[name] ?? allocate(cidr, new Set(Object.values(addresses)));
    addresses[name] = address;
    writeFileSync(addressesFile, JSON.stringify(addresses, null, 2));
    return address;
  };

  /** Made once per resource and inputs: the same inputs give the same key or certificate on every run. */
  const made = (type: string, name: string, inputs: Record<string, any>): Record<string, string> => {
    const file = join(keysDir, `${name}.json`);
    const fingerprint = createHash("sha256").update(JSON.stringify(inputs)).digest("hex");
    const kept = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { fingerprint: string; outputs: Record<string, string> }) : undefined;
    const outputs =
      kept?.fingerprint === fingerprint
        ? kept.outputs
        : type === "tls:index/privateKey:PrivateKey"
          ? privateKey(inputs.algorithm, inputs.ecdsaCurve, inputs.rsaBits)
          : type === "tls:index/certRequest:CertRequest"
            ? { certRequestPem: certRequest(inputs) }
            : { certPem: certificate(type, inputs, requests) };
    if (kept?.fingerprint !== fingerprint) writeFileSync(file, JSON.stringify({ fingerprint, outputs }), { mode: 0o600 });
    if (type === "tls:index/certRequest:CertRequest") requests.set(outputs.certRequestPem!, inputs);
    return outputs;
  };

  return {
    call(args) {
      if (args.token !== GET_IMAGE) return cloudMocks.call(args);
      // The image's name is its id here: a server's imageId names the base image its machine boots.
      try {
        baseReleaseOf(args.inputs.name);
      } catch (error) {
        // As the mock cloud's refusals: the SDK rethrows a failed invoke's details.
        throw Object.assign(error as Error, { details: (error as Error).message });
      }
      return { ...args.inputs, id: args.inputs.name };
    },
    async newResource(args) {
      const answer = await cloudMocks.newResource(args);
      const { type, name } = args;
      // Secret inputs (the CA's key) arrive marked; the tools need their values.
      const inputs = unwrapSecrets(args.inputs) as Record<string, any>;
      if (type === SUBNET) subnetCidr = inputs.cidr;
      if (type === PORT) {
        if (!subnetCidr) throw new Error("the local cloud needs the stack to make its network (berth:network.cidr)");
        return { ...answer, state: { ...answer.state, allFixedIps: [addressFor(name, subnetCidr, inputs.fixedIps?.[0]?.ipAddress)] } };
      }
      if (type === FLOATING_IP) return { ...answer, state: { ...answer.state, address: addressFor(name, answers.floatingCidr) } };
      if (MADE.has(type)) return { ...answer, state: { ...answer.state, ...made(type, name, inputs) } };
      return answer;
    },
  };
}
