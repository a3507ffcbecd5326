/**
 * Debian 12's Node.js 18, the runtime of the proxy bundle on the manager, as scripts/install-deps.sh
 * unpacks it into .cache/node18 (never installed over the machine's Node 20): the bundle runs on it
 * in the stream tests, the benchmark and the local cluster. It needs its own libraries on
 * LD_LIBRARY_PATH.
 */
import { fileURLToPath } from "node:url";

export const NODE18 = fileURLToPath(new URL("../../.cache/node18/usr/bin/node", import.meta.url));
export const NODE18_LIBS = fileURLToPath(new URL("../../.cache/node18/usr/lib/x86_64-linux-gnu", import.meta.url));
