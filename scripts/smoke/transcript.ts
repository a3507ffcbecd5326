/**
 * The pure pieces of the tenants smoke test (a replay of the FDCS introduction transcript): the
 * names every object of one run carries, how `docker ps` / `docker info` output is read (cluster
 * mode lists `node/name`; `docker info` lists the nodes in classic Swarm's SystemStatus), the
 * compose app it brings up, and the host escapes that must be refused with the field named.
 */
import { randomBytes } from "node:crypto";

/** A unique run prefix: lowercase letters and digits only, so it is also a valid compose project. */
export function runPrefix(): string {
  return `smoke${randomBytes(3).toString("hex")}`;
}

/** The object names of one run. */
export function runNames(prefix: string) {
  return {
    t1Loop: `${prefix}-t1-loop1`,
    t2Loop1: `${prefix}-t2-loop1`,
    t2Loop2: `${prefix}-t2-loop2`,
    same: `${prefix}-same-name-loop`,
    network: `${prefix}-isolated-nw`,
    volume: `${prefix}-myvol`,
    peer1: `${prefix}-peer1`,
    peer2: `${prefix}-peer2`,
    composeProject: prefix,
  };
}

export const LOOP = ["sh", "-c", "while true; do echo Hello world; sleep 1; done"];

/** A name as the tenant knows it: cluster mode lists `docker-host-1/name`. */
export const baseName = (listed: string): string => listed.slice(listed.lastIndexOf("/") + 1);

/** The names (without node) in a `--format '{{.Names}}'` listing that belong to this run, sorted. */
export function runObjects(listing: string, prefix: string): string[] {
  return listing
    .split("\n")
    .map((line) => baseName(line.trim()))
    .filter((name) => name.startsWith(prefix))
    .sort();
}

/** Node names out of `docker info --format '{{json .SystemStatus}}'` (classic Swarm: `[" docker-host-1", "ip:port"]`). */
export function nodesFromSystemStatus(json: string): string[] {
  let status: unknown;
  try {
    status = JSON.parse(json);
  } catch {
    return [];
  }
  if (!Array.isArray(status)) return [];
  return status
    .filter((entry): entry is [string, string] => Array.isArray(entry) && typeof entry[0] === "string" && /^ [^ └]/.test(entry[0]))
    .map(([name]) => name.trim());
}

/** The transcript's compose v2 app, made of one image: a db keeping a value in a named volume, a web reading it over an overlay network. */
export function composeFile(image: string): string {
  return `version: "2"
networks:
  front:
    driver: overlay
volumes:
  data: {}
services:
  db:
    image: ${JSON.stringify(image)}
    command: ["sh", "-c", "echo db-answers > /data/value; while true; do nc -l -p 27017 < /data/value; done"]
    networks: [front]
    volumes: ["data:/data"]
  web:
    image: ${JSON.stringify(image)}
    depends_on: [db]
    command: ["sh", "-c", "while true; do sleep 1; done"]
    networks: [front]
`;
}

/** A shell loop that asks `host:port` until it answers (overlay peers need a few seconds to converge). */
export function fetchLoop(host: string, port: number, tries = 20): string[] {
  return ["sh", "-c", `for i in $(seq ${tries}); do v=$(nc -w 2 ${host} ${port}) && [ -n "$v" ] && echo "$v" && exit 0; sleep 1; done; exit 1`];
}

/** A container that serves `answer` on `port` forever. */
export function serveCommand(answer: string, port: number): string[] {
  return ["sh", "-c", `while true; do echo ${answer} | nc -l -p ${port}; done`];
}

export interface HostEscape {
  name: string;
  flags: string[];
  /** The field the proxy's refusal names. */
  field: string;
}

export const HOST_ESCAPES: readonly HostEscape[] = [
  { name: "privileged", flags: ["--privileged"], field: "HostConfig.Privileged" },
  { name: "host root bind", flags: ["-v", "/:/host"], field: "HostConfig.Binds" },
  { name: "host network", flags: ["--net", "host"], field: "HostConfig.NetworkMode" },
  { name: "host pid", flags: ["--pid", "host"], field: "HostConfig.PidMode" },
  { name: "cap SYS_ADMIN", flags: ["--cap-add", "SYS_ADMIN"], field: "HostConfig.CapAdd" },
  { name: "host device", flags: ["--device", "/dev/sda"], field: "HostConfig.Devices" },
];

/** Whether a refused create's stderr is the proxy's refusal naming the field (not some other failure). */
export function isProxyRefusal(stderr: string, field: string): boolean {
  return stderr.includes(`${field}:`);
}
