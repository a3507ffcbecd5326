/**
 * Debian's docker-compose 1.29 against the proxy in cluster mode, unchanged, as FDCS tenants used
 * it: a two-service app in the spirit of the transcript's orion + mongo (a "db" keeping its data in
 * a named volume, a "web" publishing a port and reading the db over an overlay network), built from
 * local images. `up -d`, `ps`, `port`, `up --scale web=5` (spread over the nodes), `down`, and the
 * same project name used by two tenants at once without either seeing the other.
 */
import net from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TEST_IMAGE, runCommand, waitFor } from "../../scripts/harness/index.ts";
import { type TestCluster, startTestCluster } from "../support/cluster.ts";
import { type TenantUser, type TestProxy, tenantUser } from "../support/proxy.ts";
import { testDir } from "../support/test-dir.ts";

const dir = testDir("compose");
const alice = tenantUser("alice", "tenant-a", "token-tenant-a");
const bob = tenantUser("bob", "tenant-b", "token-tenant-b");
const tokensFile = dir.file(
  "tokens.json",
  [alice, bob].map((u) => ({ token: u.token, user: u.name, tenant: u.tenant })),
);
dir.file(
  "docker-compose.yml",
  `version: "2"
networks:
  front:
    driver: overlay
volumes:
  data: {}
services:
  db:
    image: ${TEST_IMAGE}
    command: sh -c 'echo "$$TENANT_SECRET" > /data/value; while true; do nc -l -p 27017 < /data/value; done'
    environment:
      - TENANT_SECRET
    networks: [front]
    volumes: ["data:/data"]
  web:
    image: ${TEST_IMAGE}
    depends_on: [db]
    command: sh -c 'until v=$$(nc -w 2 db 27017) && [ -n "$$v" ]; do sleep 0.5; done; while true; do echo "web sees $$v" | nc -l -p 1026; done'
    ports: ["1026"]
    networks: [front]
`,
);

let cluster: TestCluster;
let proxy: TestProxy;

function compose(user: TenantUser, args: string[], secret = `${user.tenant}-secret`) {
  return runCommand(["docker-compose", "--ansi", "never", "-p", "orion", ...args], {
    cwd: dir.path,
    timeoutMs: 180_000,
    env: { DOCKER_HOST: proxy.host, DOCKER_CONFIG: user.configDir, TENANT_SECRET: secret, COMPOSE_HTTP_TIMEOUT: "120" },
  });
}

/** What the app's web answers at the address `docker-compose port` gives. */
function askWeb(address: string): Promise<string> {
  const [host, port] = address.trim().split(":");
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), host!);
    let answer = "";
    socket.on("data", (chunk) => (answer += chunk));
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
    setTimeout(() => {
      socket.destroy();
      resolve(answer);
    }, 5_000);
  });
}

/**
 * What the tenant's web answers once it answers (within a minute: on a busy machine the overlay
 * and the db come up slowly), or, when it never does, what its containers logged, to fail with.
 */
async function webAnswer(user: TenantUser): Promise<string> {
  const address = (await compose(user, ["port", "web", "1026"])).stdout;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const answer = await askWeb(address).catch(() => "");
    if (answer) return answer;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const logs = await compose(user, ["logs", "--no-color"]);
  return `no answer at ${address.trim()} within 60 s; the app's logs:\n${logs.stdout}${logs.stderr}`;
}

// Fresh engines for each test: once an overlay's last container on a node is gone, dockerd 20.10
// may fail its next etcd calls there (a defect of the engine, pinned in engine-defects.test.ts).
beforeEach(async () => {
  cluster = await startTestCluster([[], [], []]);
  // As on a deployed stack, the proxy sets the hosts' MTU on the networks it creates.
  proxy = await cluster.startProxy({ BERTH_AUTH_BACKEND: "static", BERTH_TOKENS_FILE: tokensFile, BERTH_NETWORK_MTU: "1450" });
}, 240_000);

afterEach(async () => {
  await proxy?.stop();
  await cluster?.stop();
});

describe("docker-compose 1.29 in cluster mode", () => {
  it("brings the app up, reports it, scales it over the nodes and takes it down", async () => {
    const up = await compose(alice, ["up", "-d"]);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toContain('Creating network "orion_front" with driver "overlay"');

    const ps = await compose(alice, ["ps"]);
    expect(ps.stdout).toMatch(/orion_db_1\s.*Up/);
    expect(ps.stdout).toMatch(/orion_web_1\s.*Up/);

    const address = (await compose(alice, ["port", "web", "1026"])).stdout.trim();
    const nodeAddresses = cluster.engines.map((engine) => engine.address);
    expect(nodeAddresses).toContain(address.split(":")[0]);
    expect(await webAnswer(alice)).toBe("web sees tenant-a-secret\n");

    const scaled = await compose(alice, ["up", "-d", "--scale", "web=5"]);
    expect(scaled.code, scaled.stderr).toBe(0);
    const webs = await Promise.all([1, 2, 3, 4, 5].map(async (i) => (await cluster.engineOf(`tenant-a_orion_web_${i}`))?.name));
    expect(webs.every(Boolean)).toBe(true);
    expect(new Set(webs).size).toBeGreaterThanOrEqual(2);

    const down = await compose(alice, ["down"]);
    expect(down.code, down.stderr).toBe(0);
    const left = await Promise.all(cluster.engines.map((engine) => engine.api("GET", "/containers/json?all=1")));
    expect(left.flatMap((answer) => answer.body as unknown[])).toEqual([]);
    // A swarm (the current line) removes the overlay once its nodes have released their
    // attachments, a moment after `down` (under userns the manager still showed it right after).
    const overlayGone = async () => (await cluster.engines[0]!.api("GET", "/networks/tenant-a_orion_front")).status === 404;
    expect(await waitFor(overlayGone, 20_000, 500)).toBe(true);
  }, 240_000);

  it("lets two tenants use the same project name at once without interference", async () => {
    const [upA, upB] = await Promise.all([compose(alice, ["up", "-d"]), compose(bob, ["up", "-d"])]);
    expect(upA.code, upA.stderr).toBe(0);
    expect(upB.code, upB.stderr).toBe(0);
    const [psA, psB] = await Promise.all([compose(alice, ["ps", "-q"]), compose(bob, ["ps", "-q"])]);
    const idsA = psA.stdout.trim().split("\n");
    const idsB = psB.stdout.trim().split("\n");
    expect(idsA).toHaveLength(2);
    expect(idsB).toHaveLength(2);
    expect(idsA.filter((id) => idsB.includes(id))).toEqual([]);
    const [answerA, answerB] = await Promise.all([webAnswer(alice), webAnswer(bob)]);
    expect(answerA).toBe("web sees tenant-a-secret\n");
    expect(answerB).toBe("web sees tenant-b-secret\n");
    const downA = await compose(alice, ["down", "-v"]);
    expect(downA.code, downA.stderr).toBe(0);
    expect((await compose(bob, ["ps", "-q"])).stdout.trim().split("\n")).toHaveLength(2);
    expect((await compose(bob, ["down", "-v"])).code).toBe(0);
  }, 240_000);
});
