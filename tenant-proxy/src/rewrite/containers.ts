/**
 * Container operations. Every path reference is resolved inside the caller's scope first — which
 * also says which node the container lives on — and replaced by the full id, so an engine only ever
 * acts on the caller's own container; names are scoped on the way in and unscoped on the way out.
 * Lists ask every node and merge, showing `node/name` in a cluster. The create is the one
 * multi-step operation: check, resolve what the body names, choose a node (the nodes of linked
 * containers, else the scheduler), get the image and the named volumes there (and a tenant's own
 * bridge when it joins the default network), create, and — when no name was given — rename the
 * engine's generated name into the tenant's scope.
 */
import { randomInt } from "node:crypto";
import { Refusal, badRequest, forbidden } from "../http/errors.ts";
import { encodeSegments } from "../http/request.ts";
import { NETWORK_ID_PREFIX, checkLabels, checkName, hasTenantBridge, scopedFilterValues } from "../ownership.ts";
import { UPDATE_RULES, checkFields } from "../policy/fields.ts";
import { flavorForUpdate } from "../policy/flavors.ts";
import { checkMetadataSize, checkMountCount, checkPidsLimitUpdate, checkUlimits, healthcheckOverImage } from "../policy/limits.ts";
import { checkPublishedPorts } from "../policy/ports.ts";
import { checkPsArgs } from "../policy/ps-args.ts";
import { underEngineRuntime } from "../policy/runtime.ts";
import type { ClusterNode } from "../upstream/cluster.ts";
import { type JsonAnswer, readAll, ENGINE_API, passEngineError } from "../upstream/engine.ts";
import { generatedName } from "./generated-names.ts";
import { type Placement, placementRules, schedule } from "../upstream/scheduler.ts";
import { checkCreateBody, createReferences, scopeCreateBody, type ResolvedReferences } from "./container-create.ts";
import { listFilters, parseFilters, serializeFilters, withOwner } from "./filters.ts";
import { everywhereJson, noEngine } from "./fan-out.ts";
import { checkImageRegistry } from "./images.ts";
import { ensureTenantBridge, joinsDefaultNetwork, onTenantBridge } from "./tenant-bridge.ts";
import { type Handler, type Reply, type TenantRequest, json, pipe } from "./types.ts";
import { containerInspectView, containerSummaryView, visibleContainerName } from "./views.ts";
import { ensureVolumes } from "./volumes.ts";
import type { ResolvedContainer } from "../resolver.ts";
import type { Policy } from "../settings-types.ts";

const LIST_FILTERS = [
  "ancestor",
  "before",
  "expose",
  "exited",
  "health",
  "id",
  "isolation",
  "is-task",
  "label",
  "name",
  "network",
  "publish",
  "since",
  "status",
  "volume",
];
const PRUNE_FILTERS = ["until", "label", "label!"];

const ownContainer = (request: TenantRequest): Promise<ResolvedContainer> => request.resolver.container(request.scope, request.params.id!);

/** An operation on one container that needs nothing but its id and node. */
export const onContainer =
  (suffix: string[], response = pipe): Handler =>
  async (request) => {
    const { id, node } = await ownContainer(request);
    return { node, method: request.operation.method, segments: ["containers", id, ...suffix], query: request.query, response };
  };

/**
 * A `since`/`before` filter names a container, which only its own node can apply (the engine knows
 * the exact creation order); every other node's containers are compared by creation time.
 */
interface OrderFilter {
  key: "since" | "before";
  id: string;
  node: ClusterNode;
  created: number;
}

async function orderFilter(request: TenantRequest, key: "since" | "before", refs: string[] | undefined): Promise<OrderFilter | undefined> {
  if (!refs || refs.length === 0) return undefined;
  if (refs.length > 1) throw badRequest(`give one container to the ${key} filter`);
  const { id, node } = await request.resolver.container(request.scope, refs[0]!);
  const inspected = await node.engine.json("GET", `${ENGINE_API}/containers/${id}/json`);
  if (inspected.status !== 200) throw passEngineError(inspected);
  return { key, id, node, created: Math.floor(Date.parse(inspected.body.Created) / 1000) };
}

const passesOrder = (filter: OrderFilter | undefined, node: ClusterNode, created: number): boolean =>
  filter === undefined || filter.node === node || (filter.key === "since" ? created > filter.created : created < filter.created);

export const list: Handler = async (request): Promise<Reply> => {
  const { filters, matchesName } = listFilters(request.query.get("filters"), LIST_FILTERS);
  const order = await Promise.all((["since", "before"] as const).map((key) => orderFilter(request, key, filters.get(key))));
  filters.delete("since");
  filters.delete("before");
  const networks = filters.get("network");
  if (networks) filters.set("network", scopedFilterValues(request.networkScope, networks, NETWORK_ID_PREFIX));
  const volumes = filters.get("volume");
  if (volumes)
    filters.set(
      "volume",
      volumes.map((v) => (v.startsWith("/") ? v : request.scope.engineName(v))),
    );

  // The limit applies to the merged, name-filtered list, so the proxy applies it.
  const query = new URLSearchParams(request.query);
  const limit = Number(query.get("limit") ?? -1);
  query.delete("limit");
  if (limit > 0 || order.some(Boolean)) query.set("all", "1");
  const pathOn = (node: ClusterNode) => {
    const onNode = new Map(withOwner(filters, request.scope.ownerFilter()));
    for (const filter of order) if (filter?.node === node) onNode.set(filter.key, [filter.id]);
    const nodeQuery = new URLSearchParams(query);
    nodeQuery.set("filters", serializeFilters(onNode));
    return `${ENGINE_API}/containers/json?${nodeQuery}`;
  };
  const { items, missing, headers } = await everywhereJson(request, pathOn);
  const lastSeen = [...filters.keys()].every((key) => LAST_SEEN_FILTERS.includes(key))
    ? missing.flatMap((name) => lastSeenOn(request, name, engineBool(query.get("all")), filters.get("label") ?? []))
    : [];
  const visible = [...items, ...lastSeen]
    .filter(({ node, item }) => order.every((filter) => passesOrder(filter, node, item.Created)))
    .map(({ node, item }) => containerSummaryView(request.scope, request.networkScope, item, request.cluster.named ? node : undefined))
    .filter((c) => (c.Names as string[] | undefined)?.some((name) => matchesName(`/${name.split("/").pop()}`)) ?? false)
    .sort((a, b) => b.Created - a.Created);
  return { reply: { status: 200, body: limit > 0 ? visible.slice(0, limit) : visible, headers } };
};

/** The filters the proxy can apply to a down node's last-seen containers (it matches names itself). */
const LAST_SEEN_FILTERS = ["label", "name"];

/**
 * A down node's containers of the caller as its last health check saw them, shown as classic Swarm
 * did (Status "Host Down"; State "unknown", since nobody can tell now): running ones unless `all`,
 * those with the given labels (`key` or `key=value`, as the engine matches them).
 */
function lastSeenOn(request: TenantRequest, nodeName: string, all: boolean, labels: readonly string[]): { node: ClusterNode; item: any }[] {
  const node = request.cluster.byName(nodeName);
  if (!node) return [];
  const hasLabel = (own: Record<string, string>, filter: string) => {
    const [key, value] = filter.split(/=(.*)/s);
    return Object.hasOwn(own, key!) && (value === undefined || own[key!] === value);
  };
  return node.lastContainers
    .filter((c) => request.scope.owns(c.Labels) && (all || c.State === "running") && labels.every((label) => hasLabel(c.Labels ?? {}, label)))
    .map((c) => ({ node, item: { ...c, State: "unknown", Status: "Host Down" } }));
}

/** A boolean query value read as the engine reads it (Go's httputils.BoolValue). */
const engineBool = (raw: string | null): boolean => raw !== null && !["", "0", "no", "false", "none"].includes(raw.trim().toLowerCase());

export const inspect: Handler = async (request) => {
  const { id, node, inspected } = await ownContainer(request);
  const view = (container: any) => containerInspectView(request.scope, request.networkScope, container, request.cluster.named ? node : undefined);
  if (inspected && !request.query.has("size")) return { reply: { status: 200, body: view(inspected) } };
  return {
    node,
    method: "GET",
    segments: ["containers", id, "json"],
    query: request.query,
    response: json(view),
  };
};

export const stats: Handler = async (request) => {
  const { id, node } = await ownContainer(request);
  return {
    node,
    method: "GET",
    segments: ["containers", id, "stats"],
    query: request.query,
    response: {
      kind: "json-stream",
      rewrite: (sample) => (typeof sample?.name === "string" ? { ...sample, name: visibleContainerName(request.scope, sample.name) } : sample),
    },
  };
};

/**
 * `docker top` with only the ps options the policy knows to be safe. The engine's own failures
 * (ps could not run, or its output could not be read) may quote ps output, which in the worst case
 * is about other processes of the host: they are answered with one fixed message instead.
 */
export const top: Handler = async (request): Promise<Reply> => {
  const psArgs = request.query.get("ps_args") ?? "";
  const { tenantRuntime } = request.settings.policy;
  if (!request.scope.unrestricted && !underEngineRuntime(tenantRuntime)) {
    throw forbidden(
      `docker top is not available under the ${tenantRuntime} runtime: the engine would list the node's processes`,
      "forbidden",
      request.params.id,
    );
  }
  if (!request.scope.unrestricted) checkPsArgs(psArgs);
  const { id, node } = await ownContainer(request);
  const answer = await node.engine.json("GET", `${ENGINE_API}/containers/${id}/top${psArgs === "" ? "" : `?ps_args=${encodeURIComponent(psArgs)}`}`);
  if (answer.status >= 500 && !request.scope.unrestricted) {
    return { reply: { status: 500, body: { message: `ps could not list the processes of ${request.params.id} with the options "${psArgs}"` } } };
  }
  return { reply: answer };
};

export const remove: Handler = async (request) => {
  const link = request.query.get("link");
  if (link === "1" || link === "true") throw badRequest("removing legacy links is not available; remove the container instead");
  return onContainer([])(request);
};

export const rename: Handler = async (request): Promise<Reply> => {
  const name = request.query.get("name");
  if (name === null || name === "") throw badRequest("rename needs a new name");
  const engineName = request.scope.engineName(checkName("container", name));
  const { id, node } = await ownContainer(request);
  const { state } = request.quota;
  return request.quota.exclusive(request.scope, async () => {
    nameIsFreeOnOtherNodes(request, engineName);
    // Held from the check on, as a create's name is: a create on another node meanwhile is refused.
    const held = state.reserve({
      tenant: request.scope.tenant,
      node: node.name,
      memory: 0,
      nanoCpus: 0,
      containers: 0,
      publishedPorts: 0,
      hostPorts: [],
      engineName,
    });
    try {
      await nameIsFree(request, engineName, node);
      // The tenant's own call, waited for as long as the engine takes: a rename waits for the
      // container's lock, which the tenant may hold (a `docker cp` out of it left unread). Given up
      // after the lookup timeout, it was answered 502 and then done by the engine all the same.
      const answer = await node.engine.tenantJson("POST", `${ENGINE_API}/containers/${id}/rename?name=${encodeURIComponent(engineName)}`);
      if (answer.status === 204) {
        request.resolver.renamed(request.scope, id, engineName);
        state.renamed(node, id, engineName);
      }
      return { reply: answer };
    } finally {
      state.release(held);
    }
  });
};

/**
 * A create's name must be free on every node (and not reserved by a create on its way), as the
 * cluster state knows them; the chosen node's engine refuses a name it holds itself.
 */
function nameIsFreeOnOtherNodes(request: TenantRequest, engineName: string): void {
  if (request.cluster.nodes.length === 1) return;
  if (request.quota.state.nameTaken(engineName)) {
    throw new Refusal(409, `Conflict. The container name "/${request.scope.visibleName(engineName)}" is already in use`, "conflict");
  }
}

/**
 * Names are unique per engine; in a cluster the proxy keeps them unique across the nodes it can
 * reach. A node that is down cannot be asked: the create goes ahead (creates go to healthy nodes),
 * and should the name turn out to exist there too, references to it say so and take `node/name`.
 */
async function nameIsFree(request: TenantRequest, engineName: string, except?: ClusterNode): Promise<void> {
  if (request.cluster.nodes.length === 1) return;
  const { answers, errors } = await request.cluster.everywhere(async (node) =>
    node === except ? 404 : (await node.engine.json("GET", `${ENGINE_API}/containers/${encodeURIComponent(engineName)}/json`)).status,
  );
  if (errors.length > 0) throw errors[0]!.error;
  const holder = answers.find((answer) => answer.value === 200);
  if (holder) {
    throw new Refusal(409, `Conflict. The container name "/${request.scope.visibleName(engineName)}" is already in use on ${holder.node.name}`, "conflict");
  }
}

export const update: Handler = async (request): Promise<Reply> => {
  const body = request.scope.unrestricted ? ((await request.readJson()) ?? {}) : checkUpdateBody(await request.readJson(), request.settings.policy);
  const { id, node } = await ownContainer(request);
  const answer = await request.quota.update(request.scope, node, id, body, () => node.engine.json("POST", `${ENGINE_API}/containers/${id}/update`, body));
  return { reply: answer };
};

/** A tenant's update: the field rules, the PIDs limit and ulimits, and a memory change onto a flavor. */
function checkUpdateBody(raw: Record<string, unknown> | undefined, policy: Policy): Record<string, unknown> {
  const checked = checkFields(raw, UPDATE_RULES, "");
  checkPidsLimitUpdate(checked.PidsLimit, policy.limits);
  const limited = { ...checked, ...(checked.Ulimits !== undefined ? { Ulimits: checkUlimits(checked.Ulimits, policy.limits, "Ulimits") } : {}) };
  return policy.flavors ? flavorForUpdate(policy.flavors, limited) : limited;
}

/**
 * Start and restart run a container, which its quota must still allow. They take as long as the
 * tenant's stop timeout (`restart -t 600`) or its volumes' first mount: on the tenants' connections,
 * not the proxy's lookups, which a tenant's restarts would otherwise fill and time out.
 */
export const startLike =
  (action: "start" | "restart"): Handler =>
  async (request): Promise<Reply> => {
    const { id, node } = await ownContainer(request);
    const query = request.query.toString();
    const answer = await request.quota.start(request.scope, node, id, () =>
      node.engine.tenantJson("POST", `${ENGINE_API}/containers/${id}/${action}${query ? `?${query}` : ""}`),
    );
    return { reply: answer };
  };

export const prune: Handler = async (request): Promise<Reply> => {
  const filters = parseFilters(request.query.get("filters"), PRUNE_FILTERS);
  const query = new URLSearchParams({ filters: serializeFilters(withOwner(filters, request.scope.ownerFilter())) });
  const { items, headers } = await everywhereJson(request, `${ENGINE_API}/containers/prune?${query}`, "POST");
  return {
    reply: {
      status: 200,
      headers,
      body: {
        ContainersDeleted: items.flatMap(({ item }) => item.ContainersDeleted ?? []),
        SpaceReclaimed: items.reduce((sum, { item }) => sum + Number(item.SpaceReclaimed ?? 0), 0),
      },
    },
  };
};

export const putArchive: Handler = async (request) => {
  const { id, node } = await ownContainer(request);
  return { node, method: "PUT", segments: ["containers", id, "archive"], query: request.query, streamBody: true, response: pipe };
};

export async function resolveReferences(request: TenantRequest, body: Record<string, any>): Promise<ResolvedReferences> {
  const refs = createReferences(body);
  const [containers, networks] = await Promise.all([
    Promise.all([...refs.containers].map(async (ref) => [ref, await request.resolver.container(request.scope, ref)] as const)),
    Promise.all([...refs.networks].map(async (ref) => [ref, await request.resolver.network(request.networkScope, ref)] as const)),
  ]);
  return { containers: new Map(containers), networks: new Map(networks) };
}

/** Host ports a create fixes (`-p 40000:80`), as "port/proto". */
function fixedHostPorts(hostConfig: Record<string, any>): string[] {
  return Object.entries((hostConfig.PortBindings as Record<string, { HostPort?: string }[] | null> | null) ?? {}).flatMap(([port, bindings]) =>
    (bindings ?? []).filter((b) => b?.HostPort && b.HostPort !== "0").map((b) => `${b.HostPort}/${port.split("/")[1] ?? "tcp"}`),
  );
}

/**
 * The node for a new container: the node of the containers it links to or shares namespaces and
 * volumes with (they must be together), else the scheduler's choice among the healthy nodes, as
 * the cluster state sees them (synchronous: the choice and its reservation are one step).
 */
function place(request: TenantRequest, body: Record<string, any>, resolved: ResolvedReferences, bySize: boolean): ClusterNode {
  const linked = [...new Set([...resolved.containers.values()].map((c) => c.node))];
  if (linked.length > 1) throw badRequest(`the containers this one refers to are on different nodes (${linked.map((n) => n.name).join(", ")})`);
  if (linked.length === 1) return linked[0]!;
  const healthy = request.cluster.healthy();
  if (healthy.length === 0) throw noEngine();
  if (request.cluster.nodes.length === 1) return healthy[0]!;
  let rules: Placement["rules"];
  try {
    rules = placementRules(body.Env as string[] | null, body.Labels as Record<string, string> | null);
  } catch (error) {
    throw badRequest((error as Error).message);
  }
  const placement: Placement = { memory: Number(body.HostConfig.Memory ?? 0), hostPorts: fixedHostPorts(body.HostConfig), rules };
  const nodes = request.quota.state.schedulerView(request.scope, bySize);
  if (nodes.length === 0) throw noEngine();
  const decision = schedule(placement, nodes, request.settings.scheduler);
  if (!decision.node) throw new Refusal(409, `no node can take this container: ${decision.reason}`, "conflict");
  return request.cluster.byName(decision.node)!;
}

/**
 * The image on the chosen node, pulled there if missing: its inspect answer, or the engine's 404
 * when it is nowhere to be had (the CLI then pulls it and creates again).
 */
async function ensureImage(request: TenantRequest, node: ClusterNode, image: string): Promise<{ status: number; body: any }> {
  const path = `${ENGINE_API}/images/${encodeSegments(image.split("/"))}/json`;
  const present = await request.quota.state.imageInspect(node, path, async () => whatCreatesRead(await node.engine.json("GET", path)));
  if (present.status !== 404) return present;
  const pull = await node.engine.request({ method: "POST", path: `${ENGINE_API}/images/create?fromImage=${encodeURIComponent(image)}` });
  const progress = await readAll(pull);
  const failed = pull.statusCode !== 200 || progress.split("\n").some((line) => line.includes('"error"'));
  return failed ? present : node.engine.json("GET", path);
}

/** What a create reads of its image's inspect (limitedByImage): all the cluster state keeps of it. */
function whatCreatesRead(answer: JsonAnswer): JsonAnswer {
  if (answer.status !== 200) return answer;
  const { Labels, Volumes, ExposedPorts, Healthcheck } = answer.body?.Config ?? {};
  return { status: 200, body: { Config: { Labels, Volumes, ExposedPorts, Healthcheck } } };
}

export const create: Handler = async (request): Promise<Reply> => {
  const requestedName = request.query.get("name");
  const visibleName = requestedName ? checkName("container", requestedName) : undefined;
  const raw = await request.readJson();
  const checked = request.scope.unrestricted ? checkCreateShape(raw) : checkCreateBody(raw, request.settings.policy);
  if (typeof checked.Image !== "string" || checked.Image === "") throw badRequest("Image is required");
  await checkImageRegistry(request, checked.Image);
  const resolved = await resolveReferences(request, checked);
  const body = scopeCreateBody(checked, request.scope, resolved, visibleName);
  const { quota } = request;
  quota.checkCreateSized(request.scope, body.HostConfig);
  await quota.ready(request.scope);
  // Placing by memory needs every container's size; spread and random without memory need only the
  // counts (memory breaks ties between equal counts, by the sizes read so far).
  const bySize = Number(body.HostConfig.Memory ?? 0) > 0 || request.settings.scheduler === "binpack";
  if (bySize) await quota.state.whenSized();

  // One synchronous step: the name, the node and the quota are checked and reserved together.
  const named = visibleName === undefined ? undefined : request.scope.engineName(visibleName);
  if (named !== undefined) nameIsFreeOnOtherNodes(request, named);
  const node = place(request, body, resolved, bySize);
  const engineName = named ?? (request.scope.unrestricted ? undefined : freeGeneratedName(request));
  const reservation = quota.reserveCreate(request.scope, body.HostConfig, node.name, fixedHostPorts(body.HostConfig), engineName);

  const createOnEngine = async (): Promise<JsonAnswer> => {
    const image = await ensureImage(request, node, checked.Image);
    if (image.status !== 200) return image;
    let engineBody = body;
    if (!request.scope.unrestricted) {
      const limited = limitedByImage(body, image.body.Config, request.settings.policy);
      await quota.reservePorts(request.scope, reservation, limited.publishedPorts, request.settings.policy.limits.publishedPortsTenantMax);
      engineBody = limited.body;
    }
    await ensureVolumes(request, createReferences(checked).volumes, [node]);
    const onItsNode = await onNode(request, node, engineBody, visibleName);
    const platform = request.query.get("platform");
    const createNamed = (name: string | undefined) => {
      const query = new URLSearchParams();
      if (name !== undefined) query.set("name", name);
      if (platform) query.set("platform", platform);
      return node.engine.json("POST", `${ENGINE_API}/containers/create?${query}`, onItsNode);
    };
    if (named !== undefined || engineName === undefined) return createNamed(engineName);
    // A generated name the state did not know was taken (made on the engine a moment ago): another.
    return createAvoidingConflicts(request.scope.visibleName(engineName), (name) => {
      reservation.engineName = request.scope.engineName(name);
      return createNamed(reservation.engineName);
    });
  };
  const created = await quota.settleCreate(reservation, createOnEngine);
  if (created.status !== 201) return { reply: created };
  request.cluster.remember(created.body.Id, node);
  const warnings = (created.body.Warnings as string[] | null)?.map((warning) => request.scope.unscopeText(warning)) ?? null;
  return { reply: { status: 201, body: { ...created.body, Warnings: warnings } } };
};

/**
 * What a tenant's create takes from its image is checked too: the image's labels pass to the
 * container (the reserved prefix cannot be a tenant's), `-P` publishes its exposed ports, and its
 * healthcheck interval and timeout apply where the create gives none. Returns the body for the
 * engine and how many host ports it publishes.
 */
function limitedByImage(
  body: Record<string, any>,
  imageConfig: Record<string, any> | undefined,
  policy: Policy,
): { body: Record<string, any>; publishedPorts: number } {
  checkLabels(imageConfig?.Labels, `image ${body.Image} labels`);
  checkMetadataSize({ ...imageConfig?.Labels, ...body.Labels }, "Labels (with the image's)", policy.metadataMaxBytes);
  checkMountCount(body, imageConfig?.Volumes, policy.limits);
  const publishedPorts = checkPublishedPorts(body.HostConfig, body.ExposedPorts, imageConfig?.ExposedPorts, policy.limits.publishedPortsMax);
  const healthcheck = healthcheckOverImage(body.Healthcheck, imageConfig?.Healthcheck, policy.limits);
  return { body: healthcheck === body.Healthcheck ? body : { ...body, Healthcheck: healthcheck }, publishedPorts };
}

/** The body for the chosen node: a tenant's default network is its own bridge there. */
async function onNode(request: TenantRequest, node: ClusterNode, body: Record<string, any>, visibleName: string | undefined): Promise<Record<string, any>> {
  if (!hasTenantBridge(request.networkScope) || !joinsDefaultNetwork(body)) return body;
  const bridge = await ensureTenantBridge(request.quota.state, node, request.networkScope);
  return onTenantBridge(body, bridge.engineName, visibleName);
}

/** Administrators' bodies are not policed, but they still have to be the shape the plan reads. */
function checkCreateShape(body: Record<string, unknown> | undefined): Record<string, any> {
  if (body === undefined) throw badRequest("a container create needs a JSON body");
  return { ...body, HostConfig: (body.HostConfig as object | undefined) ?? {}, NetworkingConfig: (body.NetworkingConfig as object | undefined) ?? {} };
}

/** Tries at the generated name, then with a random digit appended each time, as the engine itself does. */
const SCOPED_NAME_ATTEMPTS = 5;

/**
 * Calls `create` with the generated name and, while the answer is a conflict, again with a random
 * digit appended (at most SCOPED_NAME_ATTEMPTS calls); returns the last answer.
 */
export async function createAvoidingConflicts(
  generated: string,
  create: (name: string) => Promise<JsonAnswer>,
  digit: () => number = () => randomInt(10),
): Promise<JsonAnswer> {
  let answer = await create(generated);
  for (let attempt = 1; answer.status === 409 && attempt < SCOPED_NAME_ATTEMPTS; attempt++) answer = await create(`${generated}${digit()}`);
  return answer;
}

/**
 * A name for a container created without one, in the tenant's scope from the start (the engine's
 * own generated name would be outside it): the engine's `adjective_surname` form, one no node
 * holds; a few tries, then a digit appended as the engine does.
 */
function freeGeneratedName(request: TenantRequest): string {
  let visible = generatedName();
  for (let attempt = 1; request.quota.state.nameTaken(request.scope.engineName(visible)); attempt++) {
    visible = attempt < SCOPED_NAME_ATTEMPTS ? generatedName() : `${visible}${randomInt(10)}`;
  }
  return request.scope.engineName(visible);
}
