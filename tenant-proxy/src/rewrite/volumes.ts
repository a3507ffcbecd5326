/**
 * Volume operations for tenants. Named volumes are scoped like containers and carry the owner
 * label; one a container create names is created here first (with that label) when it does not
 * exist, because the engine would otherwise create it unlabelled and therefore nobody's. Driver
 * options are refused: with the `local` driver they mount arbitrary host paths and devices.
 * Anonymous volumes belong to the container that mounts them and go with `docker rm -v`.
 */
import { randomBytes } from "node:crypto";
import { Refusal } from "../http/errors.ts";
import { ENGINE_API, checkLabels, checkName, passEngineError } from "../ownership.ts";
import { VOLUME_CREATE_RULES, checkFields } from "../policy/fields.ts";
import { listFilters, parseFilters, serializeFilters, withOwner } from "./filters.ts";
import { type Handler, type TenantRequest, json } from "./types.ts";
import { volumeView } from "./views.ts";

const LIST_FILTERS = ["dangling", "driver", "label", "name"];
const PRUNE_FILTERS = ["label", "label!"];

async function createOwnVolume(request: TenantRequest, name: string, labels: Record<string, string>) {
  return request.engine.json("POST", `${ENGINE_API}/volumes/create`, {
    Name: request.scope.engineName(name),
    Driver: "local",
    Labels: { ...labels, ...request.scope.ownerLabels() },
  });
}

/** Each named volume is the tenant's already, or is created now as the tenant's. */
export async function ensureVolumes(request: TenantRequest, names: Iterable<string>): Promise<void> {
  await Promise.all(
    [...names].map(async (name) => {
      const found = await request.engine.json("GET", `${ENGINE_API}/volumes/${encodeURIComponent(request.scope.engineName(name))}`);
      if (found.status === 200) {
        if (!request.scope.owns(found.body.Labels)) throw new Refusal(409, `volume name ${name} is reserved`, "conflict", name);
        return;
      }
      if (found.status !== 404) throw passEngineError(found);
      const created = await createOwnVolume(request, name, {});
      if (created.status !== 201) throw passEngineError(created);
    }),
  );
}

export const list: Handler = async (request) => {
  const { filters, matchesName } = listFilters(request.query.get("filters"), LIST_FILTERS);
  return {
    method: "GET",
    segments: ["volumes"],
    query: new URLSearchParams({ filters: serializeFilters(withOwner(filters, request.scope.ownerFilter())) }),
    response: json((answer: { Volumes: any[] | null; Warnings: unknown }) => ({
      ...answer,
      Volumes: (answer.Volumes ?? []).map((volume) => volumeView(request.scope, volume)).filter((volume) => matchesName(volume.Name)),
    })),
  };
};

export const create: Handler = async (request) => {
  const body = checkFields((await request.readJson()) ?? {}, VOLUME_CREATE_RULES, "");
  const labels = checkLabels(body.Labels, "Labels");
  const name = typeof body.Name === "string" && body.Name !== "" ? checkName("volume", body.Name) : randomBytes(32).toString("hex");
  const created = await createOwnVolume(request, name, labels);
  if (created.status !== 201) return { reply: created };
  // The engine hands back an existing volume of that name: fine if it is the tenant's.
  if (!request.scope.owns(created.body.Labels)) throw new Refusal(409, `volume name ${name} is reserved`, "conflict", name);
  return { reply: { status: 201, body: volumeView(request.scope, created.body) } };
};

export const inspect: Handler = async (request) => {
  const { engineName } = await request.resolver.volume(request.scope, request.params.name!);
  return { method: "GET", segments: ["volumes", engineName], query: request.query, response: json((v) => volumeView(request.scope, v)) };
};

export const remove: Handler = async (request) => {
  const { engineName } = await request.resolver.volume(request.scope, request.params.name!);
  return { method: "DELETE", segments: ["volumes", engineName], query: request.query, response: { kind: "pipe" } };
};

export const prune: Handler = async (request) => {
  const filters = parseFilters(request.query.get("filters"), PRUNE_FILTERS);
  return {
    method: "POST",
    segments: ["volumes", "prune"],
    query: new URLSearchParams({ filters: serializeFilters(withOwner(filters, request.scope.ownerFilter())) }),
    response: json((answer: { VolumesDeleted: string[] | null; SpaceReclaimed: number }) => ({
      ...answer,
      VolumesDeleted: answer.VolumesDeleted?.map((name) => request.scope.visibleName(name)) ?? null,
    })),
  };
};
