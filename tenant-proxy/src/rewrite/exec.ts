/**
 * Exec instances. They carry no labels, so an exec id belongs to whoever owns the container it runs
 * in: the resolver reads the exec's ContainerID (on the node that holds it) and resolves that inside
 * the tenant, and anything else answers "No such exec instance". Privileged exec is refused like a
 * privileged container.
 */
import { Refusal } from "../http/errors.ts";
import { EXEC_CONFIG_RULES, EXEC_START_RULES, checkFields } from "../policy/fields.ts";
import { TenantQueue } from "../policy/quota.ts";
import { EXECS_PER_SANDBOXED_CONTAINER, underEngineRuntime } from "../policy/runtime.ts";
import { ENGINE_API, passEngineError } from "../upstream/engine.ts";
import { type Handler, json, pipe } from "./types.ts";

/** Exec creates under a sandbox, one at a time per container, so each counts those before it. */
const sandboxedCreates = new TenantQueue();

export const create: Handler = async (request) => {
  const container = await request.resolver.container(request.scope, request.params.id!);
  const raw = await request.readJson();
  const body = request.scope.unrestricted ? raw : checkFields(raw, EXEC_CONFIG_RULES, "");
  // Later calls on the exec go straight to its node.
  const remembered = (answer: { Id: string }) => {
    request.cluster.remember(answer.Id, container.node);
    return answer;
  };
  const { tenantRuntime } = request.settings.policy;
  if (request.scope.unrestricted || underEngineRuntime(tenantRuntime)) {
    return { node: container.node, method: "POST", segments: ["containers", container.id, "exec"], query: request.query, body, response: json(remembered) };
  }
  // The engine's ExecIDs are the container's execs not yet ended (created or running): counted
  // and created under one lock, so concurrent creates cannot all see room for themselves.
  const engine = container.node.engine;
  return sandboxedCreates.run(container.id, async () => {
    const inspected = await engine.json("GET", `${ENGINE_API}/containers/${container.id}/json`);
    if (inspected.status !== 200) throw passEngineError(inspected);
    if ((inspected.body.ExecIDs ?? []).length >= EXECS_PER_SANDBOXED_CONTAINER) {
      throw new Refusal(
        429,
        `a container may have at most ${EXECS_PER_SANDBOXED_CONTAINER} execs at once under the ${tenantRuntime} runtime (each costs the node a process outside the container's limits); wait for one to end`,
        "too-many-calls",
        request.params.id,
      );
    }
    const created = await engine.json("POST", `${ENGINE_API}/containers/${container.id}/exec`, body);
    if (created.status !== 201) throw passEngineError(created);
    return { reply: { status: 201, body: remembered(created.body) } };
  });
};

const onExec =
  (suffix: string): Handler =>
  async (request) => {
    const exec = await request.resolver.exec(request.scope, request.params.id!);
    return { node: exec.node, method: request.operation.method, segments: ["exec", exec.id, suffix], query: request.query, response: pipe };
  };

export const inspect = onExec("json");
export const resize = onExec("resize");

/** Detached starts answer like any call; attached ones become a raw stream after the engine's upgrade. */
export const start: Handler = async (request) => {
  const exec = await request.resolver.exec(request.scope, request.params.id!);
  const raw = (await request.readJson()) ?? {};
  const body = request.scope.unrestricted ? raw : checkFields(raw, EXEC_START_RULES, "");
  return {
    node: exec.node,
    method: "POST",
    segments: ["exec", exec.id, "start"],
    query: request.query,
    body,
    response: body.Detach === true ? pipe : { kind: "hijack" },
  };
};
