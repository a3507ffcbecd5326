/**
 * The harness: real dockerd engines in network namespaces, the run's registry and Keystone, and the
 * docker CLIs to drive them, each written down in a ledger so whoever cleans up finds it. It is a
 * library shared by the test suite and by the scripts (the local cluster and the bench build on the
 * same daemons), so it lives under scripts/ and never imports test/. Everyone outside this folder
 * imports from here only (a unit test checks it: test/scripts/import-boundaries.test.ts).
 */
export { DOCKER_CLIS, runChecked, runCommand, runDocker, type CommandResult, type DockerCli } from "./commands.ts";
export { identify, isRunning, killProcess, pidRunning, spawnDaemon, waitFor, type ProcessIdentity } from "./processes.ts";
export { freeLoopbackPort, jsonRequest } from "./http.ts";
export { entries, record, type LedgerEntry } from "./ledger.ts";
export { releaseAll } from "./release.ts";
export { createBridge, createHost } from "./network.ts";
export { CURRENT_ENGINE_ROOT, startEngine, startEngines, testEngineLine, type Engine, type EngineLine, type StartEngineOptions } from "./engine.ts";
export { PING_IMAGE, TEST_IMAGE, importPingImage, testImageTar, writeBusyboxRootfs } from "./images.ts";
export { beginRun, endRun, reapOnSignal, startRegistryWithTestImages, startRunDaemon, withScriptRun, type RunDaemon } from "./lifecycle.ts";
export { currentRun, type Run } from "./run.ts";
export { sharedKeystone, startKeystone, startSharedKeystone, type IssuedToken, type Keystone } from "./keystone.ts";
export { sharedRegistry, type Registry } from "./registry.ts";
export { startEtcd, type Etcd } from "./etcd.ts";
export { startNfsServer, type NfsServer } from "./nfs.ts";
export { testSandbox } from "./sandbox.ts";
