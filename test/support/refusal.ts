import { Refusal } from "../../tenant-proxy/src/http/errors.ts";

/** The Refusal `work` throws; anything else it throws is rethrown, and throwing nothing fails the test. */
export function refusalOf(work: () => unknown): Refusal {
  try {
    work();
  } catch (error) {
    if (error instanceof Refusal) return error;
    throw error;
  }
  throw new Error("expected a refusal");
}
