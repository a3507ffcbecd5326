/**
 * Moving an engine-generated name into the tenant's scope: the engine knows `happy_dijkstra` is
 * free, not that `<tenant>_happy_dijkstra` is, so a conflict must lead to another name and
 * anything else must not (the benchmark's `docker run --rm` loop met such a conflict). The rename
 * itself is the caller's; here it answers from a table of taken names.
 */
import { describe, expect, it } from "vitest";
import { createAvoidingConflicts } from "../../tenant-proxy/src/rewrite/containers.ts";

function renamer(taken: Set<string>, otherwise = 204) {
  const asked: string[] = [];
  const rename = async (name: string) => {
    asked.push(name);
    return taken.has(name)
      ? { status: 409, body: { message: `Conflict. The container name "/${name}" is already in use` } }
      : { status: otherwise, body: null };
  };
  return { asked, rename };
}

describe("createAvoidingConflicts", () => {
  it("keeps the generated name when it is free", async () => {
    const { asked, rename } = renamer(new Set());
    expect((await createAvoidingConflicts("happy_dijkstra", rename)).status).toBe(204);
    expect(asked).toEqual(["happy_dijkstra"]);
  });

  it("appends a digit after a conflict, and another after the next", async () => {
    const digits = [3, 7];
    const { asked, rename } = renamer(new Set(["happy_dijkstra", "happy_dijkstra3"]));
    expect((await createAvoidingConflicts("happy_dijkstra", rename, () => digits.shift()!)).status).toBe(204);
    expect(asked).toEqual(["happy_dijkstra", "happy_dijkstra3", "happy_dijkstra7"]);
  });

  it("gives up with the conflict after five tries", async () => {
    const { asked, rename } = renamer(new Set(["x", "x1"]));
    const answer = await createAvoidingConflicts("x", rename, () => 1);
    expect(answer.status).toBe(409);
    expect(asked).toEqual(["x", "x1", "x1", "x1", "x1"]);
  });

  it("does not retry an answer other than a conflict", async () => {
    const { asked, rename } = renamer(new Set(), 500);
    expect((await createAvoidingConflicts("x", rename)).status).toBe(500);
    expect(asked).toEqual(["x"]);
  });
});
