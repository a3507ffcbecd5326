/**
 * Which stack file the local cloud runs (stacks/Pulumi.<stack>.yaml), and whether a state folder may
 * take it: one cloud's state (addresses, keys, machines, the commands' results) is never another
 * stack's, so `up` refuses a state folder another stack's cloud left. Pure.
 */

export const LOCAL_CLOUD_STACK = "local-cloud";
/** The environment variable that chooses another stack, as BERTH_CLOUD_DIR and the others choose the cloud's layout. */
export const STACK_VARIABLE = "BERTH_CLOUD_STACK";

/** The stack `BERTH_CLOUD_STACK` names (default local-cloud); only the local cloud's own stacks, whose network is the cloud's bridge. */
export function chosenStack(env: Record<string, string | undefined>): string {
  const stack = env[STACK_VARIABLE] ?? LOCAL_CLOUD_STACK;
  if (!/^local-cloud(-[a-z0-9]+)*$/.test(stack)) {
    throw new Error(`${STACK_VARIABLE}=${stack}: the local cloud runs one of its own stacks, stacks/Pulumi.local-cloud*.yaml (e.g. local-cloud-current)`);
  }
  return stack;
}

/**
 * Why `stack` must not run on a state folder that holds `recorded`'s cloud (undefined: it may).
 * `recorded`: the stack the folder's cloud runs, undefined for an empty folder.
 */
export function stateRefusal(recorded: string | undefined, stack: string, stateDir: string): string | undefined {
  if (recorded === undefined || recorded === stack) return undefined;
  return `${stateDir} holds the local cloud of stack ${recorded}, not ${stack}: \`npm run cloud:down\` first (${STACK_VARIABLE}=${stack} is not needed for it)`;
}
