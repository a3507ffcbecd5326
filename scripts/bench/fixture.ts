/**
 * The objects every path works on, created once and through the tenant proxy as the benchmark's
 * tenant, so they carry the proxy's ownership labels and scoped names and the proxy path sees
 * exactly what the engine path sees: 200 running containers (for lists; one of them is inspected),
 * a finished container that wrote 100 MiB to its log, and a stopped one holding a 512 MiB file of
 * random bytes for `docker cp`.
 */
import { TEST_IMAGE } from "../harness/index.ts";
import { ApiClient } from "./api.ts";
import type { Path, Tenant } from "./paths.ts";

export const LISTED_CONTAINERS = 200;
export const MIB = 1024 * 1024;
export const LOG_BYTES = 100 * MIB;
export const CP_BYTES = 512 * MIB;
/** One client for each finishing container (a wait holds its connection), three for the list. */
const CREATING_CLIENTS = 5;
/** 1023 characters and a newline: 102400 lines make the 100 MiB log. */
const LOG_LINE = "berth-bench-log-line-".padEnd(1023, "x");

export interface Fixture {
  /** One of the listed containers. */
  inspectId: string;
  logsId: string;
  /** Holds /big.bin. */
  cpId: string;
}

export async function createFixture(proxy: Path, tenant: Tenant): Promise<Fixture> {
  const clients = Array.from({ length: CREATING_CLIENTS }, () => new ApiClient(proxy.target, tenant.headers));
  try {
    const [listed, logsId, cpId] = await Promise.all([
      startListedContainers(clients.slice(2)),
      runToCompletion(clients[0]!, `yes ${LOG_LINE} | head -c ${LOG_BYTES}`),
      runToCompletion(clients[1]!, `head -c ${CP_BYTES} /dev/urandom > /big.bin`),
    ]);
    return { inspectId: listed[0]!, logsId, cpId };
  } finally {
    clients.forEach((client) => client.close());
  }
}

/** Creates and starts the listed containers, each client working through its share in order. */
async function startListedContainers(clients: ApiClient[]): Promise<string[]> {
  const ids: string[] = new Array(LISTED_CONTAINERS);
  await Promise.all(
    clients.map(async (client, offset) => {
      for (let index = offset; index < LISTED_CONTAINERS; index += clients.length) {
        const name = `list-${String(index).padStart(3, "0")}`;
        const { Id } = await client.json<{ Id: string }>("POST", `/containers/create?name=${name}`, { Image: TEST_IMAGE, Cmd: ["sleep", "3600"] });
        await client.call("POST", `/containers/${Id}/start`);
        ids[index] = Id;
      }
    }),
  );
  return ids;
}

async function runToCompletion(client: ApiClient, script: string): Promise<string> {
  const { Id } = await client.json<{ Id: string }>("POST", "/containers/create", { Image: TEST_IMAGE, Cmd: ["sh", "-c", script] });
  await client.call("POST", `/containers/${Id}/start`);
  const { StatusCode } = await client.json<{ StatusCode: number }>("POST", `/containers/${Id}/wait`);
  if (StatusCode !== 0) throw new Error(`fixture container ${Id.slice(0, 12)} (${script.slice(0, 40)}...) exited with ${StatusCode}`);
  return Id;
}
