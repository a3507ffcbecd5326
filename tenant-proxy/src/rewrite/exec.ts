/**
 * Exec instances. They carry no labels, so an exec id belongs to whoever owns the container it runs
 * in: the resolver reads the exec's ContainerID (on the node that holds it) and resolves that inside
 * the tenant, and anything else answers "No such exec instance". Privileged exec is refused like a
 * privileged container.
 */
import { EXEC_CONFIG_RULES, EXEC_START_RULES, checkFields } from "../policy/fields.ts";
import { type Handler, json, pipe } from "./types.ts";

export const create: Handler = async (request) => {
  const container = await request.resolver.container(request.scope, request.params.id!);
  const raw = await request.readJson();
  return {
    node: container.node,
    method: "POST",
    segments: ["containers", container.id, "exec"],
    query: request.query,
    body: request.scope.unrestricted ? raw : checkFields(raw, EXEC_CONFIG_RULES, ""),
    response: json((answer: { Id: string }) => {
      request.cluster.remember(answer.Id, container.node);
      return answer;
    }),
  };
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
