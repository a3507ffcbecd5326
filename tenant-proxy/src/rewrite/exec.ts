/**
 * Exec instances. They carry no labels, so an exec id belongs to whoever owns the container it runs
 * in: the resolver reads the exec's ContainerID and resolves that inside the tenant, and anything
 * else answers "No such exec instance". Privileged exec is refused like a privileged container.
 */
import { EXEC_CONFIG_RULES, EXEC_START_RULES, checkFields } from "../policy/fields.ts";
import { type Handler, pipe } from "./types.ts";

export const create: Handler = async (request) => {
  const container = await request.resolver.container(request.scope, request.params.id!);
  return {
    method: "POST",
    segments: ["containers", container.id, "exec"],
    query: request.query,
    body: checkFields(await request.readJson(), EXEC_CONFIG_RULES, ""),
    response: pipe,
  };
};

const onExec =
  (suffix: string): Handler =>
  async (request) => ({
    method: request.operation.method,
    segments: ["exec", (await request.resolver.exec(request.scope, request.params.id!)).id, suffix],
    query: request.query,
    response: pipe,
  });

export const inspect = onExec("json");
export const resize = onExec("resize");

/** Detached starts answer like any call; attached ones become a raw stream after the engine's upgrade. */
export const start: Handler = async (request) => {
  const exec = await request.resolver.exec(request.scope, request.params.id!);
  const body = checkFields((await request.readJson()) ?? {}, EXEC_START_RULES, "");
  return {
    method: "POST",
    segments: ["exec", exec.id, "start"],
    query: request.query,
    body,
    response: body.Detach === true ? pipe : { kind: "hijack" },
  };
};
