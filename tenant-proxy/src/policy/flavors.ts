/**
 * Flavors (FDCS SWARM_FLAVORS_ENFORCED / SWARM_FLAVORS_FILE): the memory sizes a container may have,
 * in FDCS's file format, `{"default": {"Memory": 64}, "medium": {"Memory": 128}}` (megabytes,
 * `default` required). A create that asks for no memory or an unlisted size gets the default flavor,
 * as FDCS documented; an update may only move a container to another listed size, so `docker update
 * -m` cannot escape the flavors. Swap is pinned to the memory size: a flavor is what the container
 * gets, not a floor.
 */
import { z } from "zod";
import { FieldRefusal } from "./fields.ts";

export const MIB = 1024 * 1024;

export type Flavors = Record<string, { Memory: number }>;

export const flavorsSchema = z
  .record(z.string().min(1), z.strictObject({ Memory: z.number().int("Memory is a whole number of megabytes").positive("Memory must be positive") }))
  .refine((flavors) => "default" in flavors, { message: 'a "default" flavor is required' });

function sizes(flavors: Flavors): string {
  return Object.values(flavors)
    .map((f) => f.Memory)
    .sort((a, b) => a - b)
    .join(", ");
}

const isFlavor = (flavors: Flavors, bytes: unknown): boolean => typeof bytes === "number" && Object.values(flavors).some((f) => f.Memory * MIB === bytes);

/** The memory settings a create gets: the asked size when it is a flavor, else the default. */
export function flavorForCreate(flavors: Flavors, hostConfig: Record<string, unknown>): Record<string, unknown> {
  const memory = isFlavor(flavors, hostConfig.Memory) ? (hostConfig.Memory as number) : flavors.default!.Memory * MIB;
  return { ...hostConfig, Memory: memory, MemorySwap: memory, MemoryReservation: 0 };
}

/** An update's resources: a memory change must land on a flavor. */
export function flavorForUpdate(flavors: Flavors, update: Record<string, unknown>): Record<string, unknown> {
  const changesMemory = update.Memory !== undefined && update.Memory !== 0;
  if (!changesMemory) {
    if (update.MemorySwap !== undefined && update.MemorySwap !== 0) throw new FieldRefusal("MemorySwap", "swap follows the flavor's memory");
    return update;
  }
  if (!isFlavor(flavors, update.Memory)) {
    throw new FieldRefusal("Memory", `memory must be one of the flavors (${sizes(flavors)} MB)`);
  }
  return { ...update, MemorySwap: update.Memory, MemoryReservation: 0 };
}
