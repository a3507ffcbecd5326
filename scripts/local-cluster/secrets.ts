/**
 * The local cluster's generated secrets, all in the ignored .local/ and never committed: a CA and
 * the proxy's server certificate for the manager's address (made with openssl, as an operator
 * would by hand), the root SSH key every host's sshd accepts, and the tenants' Keystone passwords
 * (0600).
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runChecked } from "../harness/index.ts";

export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A CA and a server certificate valid for `address` (an IP), in `dir`. */
export async function makeTls(dir: string, address: string): Promise<TlsFiles> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = (name: string) => join(dir, name);
  await runChecked([
    "openssl",
    "req",
    "-x509",
    "-new",
    ...EC_KEY,
    "-keyout",
    path("ca-key.pem"),
    "-out",
    path("ca.pem"),
    "-days",
    "3650",
    "-subj",
    "/CN=berth local cluster CA",
  ]);
  await runChecked(["openssl", "req", "-new", ...EC_KEY, "-keyout", path("server-key.pem"), "-out", path("server.csr"), "-subj", `/CN=${address}`]);
  writeFileSync(path("server.ext"), `subjectAltName=IP:${address}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n`);
  await runChecked([
    "openssl",
    "x509",
    "-req",
    "-in",
    path("server.csr"),
    "-CA",
    path("ca.pem"),
    "-CAkey",
    path("ca-key.pem"),
    "-CAcreateserial",
    "-out",
    path("server-cert.pem"),
    "-days",
    "825",
    "-extfile",
    path("server.ext"),
  ]);
  for (const name of ["server.csr", "server.ext", "ca.srl"]) rmSync(path(name), { force: true });
  return { caFile: path("ca.pem"), certFile: path("server-cert.pem"), keyFile: path("server-key.pem") };
}

export interface SshFiles {
  privateKey: string;
  authorizedKeys: string;
}

/** The client key for root on every host, and the authorized_keys file every sshd reads. */
export async function makeSshKey(dir: string): Promise<SshFiles> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const privateKey = join(dir, "id_ed25519");
  if (!existsSync(privateKey)) await runChecked(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@berth-local", "-f", privateKey]);
  const authorizedKeys = join(dir, "authorized_keys");
  writeFileSync(authorizedKeys, readFileSync(`${privateKey}.pub`), { mode: 0o600 });
  return { privateKey, authorizedKeys };
}

/** A fresh password per user, saved 0600. */
export function makePasswords(file: string, users: string[]): Record<string, string> {
  const passwords = Object.fromEntries(users.map((user) => [user, randomBytes(18).toString("base64url")]));
  writeFileSync(file, `${JSON.stringify(passwords, null, 2)}\n`, { mode: 0o600 });
  return passwords;
}

export function readPasswords(file: string): Record<string, string> {
  return JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
}
