/**
 * The integration test harness: real dockerd engines in network namespaces, the run's registry and
 * Keystone, and the docker CLIs to drive them. Test files import from here only; so do scripts,
 * which get a run of their own from withScriptRun.
 */
export { DOCKER_CLIS, runCommand, runDocker, type CommandResult, type DockerCli } from "./commands.ts";
export { waitFor } from "./processes.ts";
export { freeLoopbackPort } from "./http.ts";
export { startEngine, startEngines, type Engine, type StartEngineOptions } from "./engine.ts";
export { testSandbox } from "./sandbox.ts";
export { PING_IMAGE, TEST_IMAGE, importPingImage, testImageTar } from "./images.ts";
export { startRunDaemon, withScriptRun, type RunDaemon } from "./lifecycle.ts";
export type { Run } from "./run.ts";
export { sharedKeystone, startKeystone, type IssuedToken, type Keystone } from "./keystone.ts";
export { sharedRegistry, type Registry } from "./registry.ts";
export { startEtcd, type Etcd } from "./etcd.ts";
export { startNfsServer, type NfsServer } from "./nfs.ts";
