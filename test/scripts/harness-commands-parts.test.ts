/**
 * The harness's command runner keeps its guarantees whatever runs the commands underneath: no
 * DOCKER_* setting of this process leaks into a child, a hanging command is killed after its
 * timeout and reported as exit 124, a missing program is exit 127, a non-zero exit is a result
 * (never a throw), and input reaches the program's stdin. No daemon needed: the unit tier.
 */
import { afterEach, describe, expect, it } from "vitest";
import { runChecked, runCommand } from "../../scripts/harness/index.ts";

describe("runCommand", () => {
  const saved = process.env.DOCKER_HOST;
  afterEach(() => {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
  });

  it("never passes this process's DOCKER_* settings on", async () => {
    process.env.DOCKER_HOST = "tcp://192.0.2.1:2376";
    const result = await runCommand(["env"], { env: { BERTH_SEEN: "yes" } });
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain("DOCKER_HOST");
    expect(result.stdout).toContain("BERTH_SEEN=yes");
  });

  it("kills a command that outlives its timeout, as exit 124", async () => {
    const started = Date.now();
    const result = await runCommand(["sleep", "30"], { timeoutMs: 300 });
    expect(result.code).toBe(124);
    expect(result.stderr).toContain("sleep 30: killed after 300 ms");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("answers 127 for a program that does not exist", async () => {
    expect((await runCommand(["/nonexistent/berth-program"])).code).toBe(127);
  });

  it("reports a non-zero exit with its output, and feeds input to stdin", async () => {
    const failed = await runCommand(["sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(failed).toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
    expect((await runCommand(["cat"], { input: "fed in" })).stdout).toBe("fed in");
  });

  it("passes arguments through unchanged, spaces, quotes and all", async () => {
    const tricky = ["a b", "it's", '"q"', "$HOME", "*", "{{.Name}}", "line\nbreak", ""];
    const result = await runCommand(["printf", "%s|", ...tricky]);
    expect(result.stdout).toBe(`${tricky.join("|")}|`);
  });

  it("runChecked throws naming the command and its stderr", async () => {
    await expect(runChecked(["sh", "-c", "echo broken >&2; exit 1"])).rejects.toThrow(/sh -c .* exited with 1: broken/);
  });
});
