/**
 * The few statistics the benchmark reports, kept apart so every case summarises its samples the
 * same way: nearest-rank percentiles (no interpolation, so a p50 is a time that was measured) over
 * latencies in milliseconds, and the clock the samples are taken with.
 */
import { performance } from "node:perf_hooks";

/** A figure measured against its target, as every case states it. */
export interface Verdict {
  target: string;
  measured: string;
  pass: boolean;
}

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
}

export function summarize(samples: number[]): Summary {
  if (samples.length === 0) throw new Error("no samples to summarise");
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return { n: sorted.length, p50: rank(50), p90: rank(90), p99: rank(99) };
}

/** Runs `work` and returns how long it took, in milliseconds. */
export async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}
