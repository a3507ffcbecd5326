/**
 * What a benchmark run found, in one shape for the printed summary and for
 * .local/bench/results.json (from which the table in scripts/README.md is filled). Each case keeps its four
 * paths' figures side by side and is judged against the issue's target for it; a miss is reported
 * as MISS, never as a failure of the run, because this is a measurement, not a test.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { table } from "../lib/console.ts";
import { PATH_NAMES, type PathName } from "./paths.ts";
import type { FanOutResults } from "./fan-out.ts";
import type { Summary, Verdict } from "./stats.ts";

export type Unit = "ms" | "MiB/s";

/** A path's figures: latency percentiles in ms, or throughputs in MiB/s at those latency percentiles. */
export interface PathFigures extends Summary {
  /** Whole-run throughput of a concurrency case, in operations per second. */
  opsPerSec?: number;
}

export interface CaseResult {
  id: string;
  title: string;
  unit: Unit;
  /** The tail shown beside the p50: p90 for sequential cases, p99 for concurrency. */
  tail: "p90" | "p99";
  paths: Record<PathName, PathFigures>;
  verdict?: Verdict;
  /** The 1-minute load average as the case ended: a figure is read beside the load it was measured under. */
  loadAverage?: number;
  /** For a case of several calls: each call's p50 per path, in ms. */
  steps?: Record<string, Record<PathName, number>>;
}

export type Target = (paths: Record<PathName, PathFigures>) => Verdict;

export interface Results {
  startedAt: string;
  seconds: number;
  machine: { cpus: number; loadAverageAtStart: number[]; loadAverageAtEnd: number[]; proxyNode: string; haproxy: string };
  cases: CaseResult[];
  proxyPeakRss: {
    mib: number;
    verdict: Verdict;
    /** VmHWM once the proxy answered its first call, and after each case (by case id): where the peak came from. */
    atStart: number;
    afterCase: Record<string, number>;
  };
  fanOut: FanOutResults;
}

/** The proxy adds at most `ms` to the engine's p50 (for `calls` control calls, `calls` times that). */
export const addsAtMost = (ms: number, calls = 1): Target => addsAtMostOver("engine", ms * calls);

/** The proxy adds at most `ms` to the p50 of another path (the bare Node hop: what any Node proxy costs). */
export const addsAtMostOver =
  (base: PathName, ms: number): Target =>
  (paths) => {
    const added = paths.proxy.p50 - paths[base].p50;
    const over = base === "engine" ? "" : ` over ${base}`;
    return { target: `+${ms} ms p50${over}`, measured: `${added >= 0 ? "+" : ""}${added.toFixed(2)} ms${over}`, pass: added <= ms };
  };

/** The proxy's p50 is at most `ratio` times the engine's. */
export const ratioAtMost =
  (ratio: number): Target =>
  ({ proxy, engine }) => {
    const measured = proxy.p50 / engine.p50;
    return { target: `<= ${ratio.toFixed(2)}x`, measured: `${measured.toFixed(2)}x`, pass: measured <= ratio };
  };

/** The proxy's median throughput is at least `ratio` times the engine's. */
export const ratioAtLeast =
  (ratio: number): Target =>
  ({ proxy, engine }) => {
    const measured = proxy.p50 / engine.p50;
    return { target: `>= ${ratio.toFixed(2)}x`, measured: `${measured.toFixed(2)}x`, pass: measured >= ratio };
  };

export function judgeRss(mib: number, limitMib: number): Verdict {
  return { target: `<= ${limitMib} MiB`, measured: `${mib.toFixed(1)} MiB`, pass: mib <= limitMib };
}

export function writeResults(file: string, results: Results): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}

/** One progress line for a finished case: every path's p50 and the verdict. */
export function formatCaseLine(result: CaseResult): string {
  const figure = (name: PathName) => {
    const { p50, opsPerSec } = result.paths[name];
    return `${name} ${p50.toFixed(2)} ${result.unit}${opsPerSec === undefined ? "" : ` ${Math.round(opsPerSec)} op/s`}`;
  };
  const verdict = result.verdict ? ` -> ${result.verdict.measured} (target ${result.verdict.target}) ${result.verdict.pass ? "PASS" : "MISS"}` : "";
  const steps = result.steps ? `\n    ${formatSteps(result.steps)}` : "";
  return `p50: ${PATH_NAMES.map(figure).join(", ")}${verdict}${steps}`;
}

function formatSteps(steps: Record<string, Record<PathName, number>>): string {
  const step = ([name, p50s]: [string, Record<PathName, number>]) => `${name} ${PATH_NAMES.map((path) => p50s[path].toFixed(1)).join(" / ")}`;
  return `per call p50, ${PATH_NAMES.join(" / ")} (ms): ${Object.entries(steps).map(step).join(", ")}`;
}

/** The summary table: one row per case, each path's p50/p90 and its ratio to the engine. */
export function formatSummary(results: Results): string {
  const header = ["case", ...PATH_NAMES.map((name) => `${name} p50 / p90`), "target (proxy)", "measured", "", "load"];
  const rows = results.cases.map((result) => [
    result.tail === "p90" ? result.title : `${result.title} (p50 / ${result.tail})`,
    ...PATH_NAMES.map((name) => cell(result, name)),
    result.verdict?.target ?? "-",
    result.verdict?.measured ?? `${ratio(result, "proxy")}${result.paths.proxy.opsPerSec === undefined ? "" : " op/s"}`,
    result.verdict ? (result.verdict.pass ? "PASS" : "MISS") : "",
    result.loadAverage?.toFixed(2) ?? "",
  ]);
  const rss = results.proxyPeakRss.verdict;
  rows.push([
    "proxy peak RSS (VmHWM)",
    ...PATH_NAMES.map((name) => (name === "proxy" ? `${results.proxyPeakRss.mib.toFixed(1)} MiB` : "")),
    rss.target,
    rss.measured,
    rss.pass ? "PASS" : "MISS",
    "",
  ]);
  const { atStart, afterCase } = results.proxyPeakRss;
  const notes = [
    ...results.cases.filter((result) => result.steps).map((result) => `${result.title}: ${formatSteps(result.steps!)}`),
    `proxy VmHWM (MiB): ${atStart.toFixed(0)} at start, then after ${Object.entries(afterCase)
      .map(([id, mib]) => `${id} ${mib.toFixed(0)}`)
      .join(", ")}`,
  ];
  return [table([header, ...rows], { rule: true }), "", ...notes].join("\n");
}

function cell(result: CaseResult, name: PathName): string {
  const figures = result.paths[name];
  const decimals = result.unit === "ms" && figures.p50 < 10 ? 2 : 1;
  const base = `${figures.p50.toFixed(decimals)} / ${figures[result.tail].toFixed(decimals)} ${result.unit}`;
  const ops = figures.opsPerSec === undefined ? "" : `, ${Math.round(figures.opsPerSec)} op/s`;
  return name === "engine" ? `${base}${ops}` : `${base}${ops} (${ratio(result, name)})`;
}

/** The path's p50 (or, for a concurrency case, its throughput) over the engine's. */
function ratio(result: CaseResult, name: PathName): string {
  const { engine } = result.paths;
  const figures = result.paths[name];
  const value = figures.opsPerSec !== undefined ? figures.opsPerSec / engine.opsPerSec! : figures.p50 / engine.p50;
  return `${value.toFixed(2)}x`;
}
