/**
 * A randomised run (fast-check) of mixed valid and hostile requests from three tenants through the
 * proxy, with the invariant checked against the engine directly after every step: each tenant sees
 * exactly the containers the model says it owns, every engine container carries one owner and that
 * owner's name prefix, nothing a non-owner tried changed anything, no forbidden setting reached the
 * engine, and no tenant holds more memory than its quota. Runs and steps are bounded; a failure
 * prints fast-check's seed and the shrunk sequence so it can be replayed.
 */
import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Engine, TEST_IMAGE, startEngine } from "../../scripts/harness/index.ts";
import { type TestProxy, startTestProxy } from "../support/proxy.ts";
import { testDir } from "../support/test-dir.ts";

const TENANTS = ["red", "green", "blue"] as const;
// None of these is hex, so none can also be read as an id prefix (docker's own rule would match it).
const NAMES = ["web", "data", "cache"] as const;
const QUOTA_MB = 192;
const MIB = 1024 * 1024;
const dir = testDir("random");

type Tenant = (typeof TENANTS)[number];
type Hostile = "none" | "privileged" | "bind-root" | "link-other" | "label-forgery" | "huge-memory";
type Action =
  | { kind: "create"; tenant: Tenant; name: string; hostile: Hostile; other: Tenant }
  | { kind: "remove-by-name"; tenant: Tenant; name: string }
  | { kind: "remove-by-id"; tenant: Tenant; owner: Tenant; name: string }
  | { kind: "inspect-by-id"; tenant: Tenant; owner: Tenant; name: string }
  | { kind: "rename"; tenant: Tenant; owner: Tenant; name: string; to: string };

const tenant = fc.constantFrom(...TENANTS);
const name = fc.constantFrom(...NAMES);
const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({
    kind: fc.constant("create" as const),
    tenant,
    name,
    hostile: fc.constantFrom<Hostile>("none", "none", "privileged", "bind-root", "link-other", "label-forgery", "huge-memory"),
    other: tenant,
  }),
  fc.record({ kind: fc.constant("remove-by-name" as const), tenant, name }),
  fc.record({ kind: fc.constant("remove-by-id" as const), tenant, owner: tenant, name }),
  fc.record({ kind: fc.constant("inspect-by-id" as const), tenant, owner: tenant, name }),
  fc.record({ kind: fc.constant("rename" as const), tenant, owner: tenant, name, to: name }),
);

let engine: Engine;
let proxy: TestProxy;

async function call(as: Tenant, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`http://127.0.0.1:${proxy.port}/v1.41${path}`, {
    method,
    headers: { "x-auth-token": `token-${as}`, "x-auth-tenantid": as, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** Engine containers by owner label, as `name → id` with the tenant prefix removed. */
async function engineView(): Promise<Map<Tenant, Map<string, string>>> {
  const listed = await engine.api("GET", "/containers/json?all=1");
  const view = new Map<Tenant, Map<string, string>>(TENANTS.map((t) => [t, new Map()]));
  for (const container of listed.body as { Id: string; Names: string[]; Labels: Record<string, string> }[]) {
    const owner = container.Labels["berth.tenant"] as Tenant;
    const engineName = container.Names[0]!.slice(1);
    expect(TENANTS, `${engineName} has an owner`).toContain(owner);
    expect(engineName.startsWith(`${owner}_`), `${engineName} carries its owner's prefix`).toBe(true);
    view.get(owner)!.set(engineName.slice(owner.length + 1), container.Id);
  }
  return view;
}

function createBody(action: Extract<Action, { kind: "create" }>): Record<string, unknown> {
  const body: Record<string, any> = { Image: TEST_IMAGE, Cmd: ["true"], HostConfig: {} };
  switch (action.hostile) {
    case "privileged":
      body.HostConfig.Privileged = true;
      break;
    case "bind-root":
      body.HostConfig.Binds = ["/:/host"];
      break;
    case "link-other":
      body.HostConfig.Links = [`${action.other}_web:web`];
      break;
    case "label-forgery":
      body.Labels = { "berth.tenant": action.other };
      break;
    case "huge-memory":
      body.HostConfig.Memory = 8192 * MIB;
      break;
  }
  return body;
}

/** Applies one action through the proxy and to the model; returns what the model now expects. */
async function apply(model: Map<Tenant, Map<string, string>>, step: Action): Promise<void> {
  const own = model.get(step.tenant)!;
  switch (step.kind) {
    case "create": {
      const answer = await call(step.tenant, "POST", `/containers/create?name=${step.name}`, createBody(step));
      const allowed = step.hostile === "none" || step.hostile === "huge-memory";
      const fits = (own.size + 1) * 64 <= QUOTA_MB;
      if (answer.status === 201) {
        expect(allowed && fits && !own.has(step.name), `create ${JSON.stringify(step)} should not have succeeded`).toBe(true);
        own.set(step.name, answer.body.Id);
      } else {
        expect(allowed && fits && !own.has(step.name), `create ${JSON.stringify(step)} failed: ${JSON.stringify(answer.body)}`).toBe(false);
      }
      return;
    }
    case "remove-by-name": {
      const answer = await call(step.tenant, "DELETE", `/containers/${step.name}?force=1`);
      expect(answer.status).toBe(own.has(step.name) ? 204 : 404);
      own.delete(step.name);
      return;
    }
    case "remove-by-id":
    case "inspect-by-id": {
      const id = model.get(step.owner)!.get(step.name);
      if (id === undefined) return;
      const mine = step.owner === step.tenant;
      const answer =
        step.kind === "remove-by-id"
          ? await call(step.tenant, "DELETE", `/containers/${id}?force=1`)
          : await call(step.tenant, "GET", `/containers/${id.slice(0, 10)}/json`);
      expect(answer.status).toBe(mine ? (step.kind === "remove-by-id" ? 204 : 200) : 404);
      if (!mine) expect(answer.body.message).toBe(`No such container: ${step.kind === "remove-by-id" ? id : id.slice(0, 10)}`);
      if (mine && step.kind === "remove-by-id") own.delete(step.name);
      if (mine && step.kind === "inspect-by-id") expect(answer.body.Name).toBe(`/${step.name}`);
      return;
    }
    case "rename": {
      const id = model.get(step.owner)!.get(step.name);
      if (id === undefined) return;
      const answer = await call(step.tenant, "POST", `/containers/${id}/rename?name=${step.to}`);
      // The engine answers a rename to the current name with 400 and one to a taken name with 409.
      const expected = step.owner !== step.tenant ? 404 : step.to === step.name ? 400 : own.has(step.to) ? 409 : 204;
      expect(answer.status).toBe(expected);
      if (answer.status === 204) {
        own.delete(step.name);
        own.set(step.to, id);
      }
      return;
    }
  }
}

async function checkInvariant(model: Map<Tenant, Map<string, string>>): Promise<void> {
  const view = await engineView();
  for (const t of TENANTS) {
    expect(Object.fromEntries(view.get(t)!), `${t}'s containers on the engine`).toEqual(Object.fromEntries(model.get(t)!));
    const listed = await call(t, "GET", "/containers/json?all=1");
    expect((listed.body as { Names: string[] }[]).map((c) => c.Names[0]).sort(), `${t}'s own list`).toEqual(
      [...model.get(t)!.keys()].map((n) => `/${n}`).sort(),
    );
  }
  const inspected = await Promise.all([...view.values()].flatMap((m) => [...m.values()]).map((id) => engine.api("GET", `/containers/${id}/json`)));
  for (const { body } of inspected) {
    expect(body.HostConfig.Privileged).toBe(false);
    expect(body.HostConfig.Binds ?? []).toEqual([]);
    expect(body.HostConfig.Memory).toBe(64 * MIB);
  }
}

beforeAll(async () => {
  engine = await startEngine();
  proxy = await startTestProxy(engine, {
    BERTH_AUTH_BACKEND: "static",
    BERTH_TOKENS_FILE: dir.file(
      "tokens.json",
      TENANTS.map((t) => ({ token: `token-${t}`, user: `${t}-user`, tenant: t })),
    ),
    SWARM_FLAVORS_ENFORCED: "true",
    SWARM_FLAVORS_FILE: dir.file("flavors.json", { default: { Memory: 64 } }),
    SWARM_ENFORCE_QUOTA: "true",
    SWARM_QUOTA_FILE: dir.file("quota.json", { Memory: QUOTA_MB }),
  });
});

afterAll(async () => {
  await proxy?.stop();
  await engine?.stop();
});

it("no tenant ever sees, changes or learns of another's containers, or exceeds its quota", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(action, { minLength: 5, maxLength: 25 }), async (steps) => {
      const model = new Map<Tenant, Map<string, string>>(TENANTS.map((t) => [t, new Map()]));
      try {
        for (const step of steps) {
          await apply(model, step);
          await checkInvariant(model);
        }
      } finally {
        const leftovers = await engine.api("GET", "/containers/json?all=1&quiet=1");
        await Promise.all((leftovers.body as { Id: string }[]).map((c) => engine.api("DELETE", `/containers/${c.Id}?force=1`)));
      }
    }),
    { numRuns: 12, interruptAfterTimeLimit: 150_000, verbose: true },
  );
}, 240_000);
