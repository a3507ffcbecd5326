/**
 * What the providers do with the inputs the program sends, written down from their source so the
 * pretend cloud refuses and plans the way `pulumi up` would:
 *
 * - terraform-provider-openstack v1.54.1 (bundled by @pulumi/openstack 3.15.2):
 *   openstack/resource_openstack_compute_instance_v2.go, resource_openstack_blockstorage_volume_v3.go,
 *   resource_openstack_compute_keypair_v2.go (read with git at tag v1.54.1).
 * - pulumi-command v1.2.1: provider/pkg/provider/remote/{command,commandController,copy}.go.
 * - Pulumi's engine: `ignoreChanges` keeps the old value of an input, `protect` refuses to delete or
 *   replace, `replaceOnChanges` turns an update into a replacement.
 *
 * `planChanges` is the engine's diff reduced to what these rules decide: for two recorded runs of the
 * program (the deployed one and the next), what would happen to each resource.
 */
import { isDeepStrictEqual } from "node:util";
import type { RecordedResource } from "./recorded-resource.ts";

const INSTANCE = "openstack:compute/instance:Instance";
const VOLUME = "openstack:blockstorage/volume:Volume";
const KEYPAIR = "openstack:compute/keypair:Keypair";
const COMMAND = "command:remote:Command";
const COPY = "command:remote:CopyToRemote";

/**
 * Inputs whose change replaces the resource (the provider's `ForceNew: true`, or pulumi-command's
 * `provider:"replaceOnChanges"`). compute_instance_v2: key_pair, block_device (every field),
 * user_data, network, config_drive, scheduler_hints, region; blockstorage_volume_v3: volume_type,
 * availability_zone, scheduler_hints, source_replica, consistency_group_id, region; keypair_v2:
 * name, public_key; remote Command and CopyToRemote: triggers (connection, stdin, create are updates).
 */
const REPLACED_BY: Record<string, ReadonlySet<string>> = {
  [INSTANCE]: new Set(["keyPair", "blockDevices", "userData", "networks", "configDrive", "schedulerHints", "region"]),
  [VOLUME]: new Set(["volumeType", "availabilityZone", "schedulerHints", "sourceReplica", "consistencyGroupId", "region"]),
  [KEYPAIR]: new Set(["name", "publicKey"]),
  [COMMAND]: new Set(["triggers"]),
  [COPY]: new Set(["triggers"]),
};

/**
 * compute_instance_v2's Update: `if d.HasChange("image_id") || d.HasChange("image_name")` calls
 * Nova's rebuild with the new image: the same server (same id) gets a fresh root disk. No trigger
 * that watches the server id notices.
 */
const REBUILT_BY: Record<string, ReadonlySet<string>> = { [INSTANCE]: new Set(["imageId", "imageName"]) };

export type Change = "same" | "update" | "rebuild" | "replace" | "delete" | { refused: string };

/**
 * What the provider refuses at create. getImageIDFromConfig: with a block_device list, an image is
 * needed only for an `image -> local` boot device; then (or without block devices) image_id or
 * image_name must be set, else "Neither a boot device, image ID, or image name were able to be
 * determined" (OS_IMAGE_ID / OS_IMAGE_NAME in the provider's environment are not set here).
 */
export function refusalOf(type: string, inputs: Record<string, any>): string | undefined {
  if (type !== INSTANCE) return undefined;
  const devices: Array<Record<string, unknown>> = inputs.blockDevices ?? [];
  const needsImage = devices.length === 0 || devices.some((device) => device.sourceType === "image" && device.destinationType === "local");
  if (needsImage && !inputs.imageId && !inputs.imageName) return "Neither a boot device, image ID, or image name were able to be determined";
  return undefined;
}

/** The ids of the volumes attached to some server (Cinder status "in-use"). */
function attachedVolumeIds(resources: RecordedResource[]): Set<string> {
  return new Set(
    resources
      .filter((resource) => resource.type === INSTANCE)
      .flatMap((server) => (server.inputs.blockDevices ?? []) as Array<Record<string, string>>)
      .filter((device) => device.sourceType === "volume")
      .map((device) => device.uuid),
  );
}

/**
 * blockstorage_volume_v3's Update for `size`: on an in-use volume it fails unless
 * enable_online_resize is set ("volume is attached to the instance and resizing online is
 * disabled"); Cinder's extend refuses a size that is not larger ("New size for extend must be
 * greater than current size").
 */
function volumeSizeRefusal(before: RecordedResource, after: RecordedResource, attached: Set<string>): string | undefined {
  const [from, to] = [before.inputs.size as number, after.inputs.size as number];
  if (to === from) return undefined;
  if (to < from) return `Cinder cannot shrink a volume (${from} GB to ${to} GB)`;
  if (attached.has(`${after.name}-id`) && !after.inputs.enableOnlineResize)
    return "volume is attached to the instance and resizing online is disabled, see enable_online_resize option";
  return undefined;
}

/** Top-level inputs that differ; ignoreChanges is modelled for top-level names only, so a path is refused. */
function changedInputs(before: RecordedResource, after: RecordedResource): string[] {
  const paths = after.options.ignoreChanges.filter((key) => /[.[]/.test(key));
  if (paths.length > 0) throw new Error(`${after.name}: planChanges models ignoreChanges of whole inputs only, not ${paths.join(", ")}`);
  const ignored = new Set(after.options.ignoreChanges);
  const keys = new Set([...Object.keys(before.inputs), ...Object.keys(after.inputs)]);
  return [...keys].filter((key) => !ignored.has(key) && !isDeepStrictEqual(before.inputs[key], after.inputs[key]));
}

/**
 * For each resource of `before` (by name), what the next `pulumi up` with `after` does to it. A
 * replaced resource gets a new id: whoever names that id in a replace-only input is replaced too,
 * unless it ignores that input. A resource replaced delete-first replaces such dependents even when
 * they ignore the input: the engine asks their provider's Diff without their ignoreChanges (pulumi
 * pkg/resource/deploy/step_generator.go, calculateDependentReplacements).
 */
export function planChanges(before: RecordedResource[], after: RecordedResource[]): Map<string, Change> {
  const afterByUrn = new Map(after.map((resource) => [resource.urn, resource]));
  const attached = attachedVolumeIds(after);
  const plan = new Map<string, Change>();
  const replacedIds = new Set<string>();
  /** The URNs of resources replaced delete-first. */
  const deletedFirst = new Set<string>();
  const decide = (resource: RecordedResource, next: RecordedResource): Change => {
    const changed = changedInputs(resource, next);
    const replaceOnly = new Set([...(REPLACED_BY[resource.type] ?? []), ...next.options.replaceOnChanges]);
    const ignored = new Set(next.options.ignoreChanges);
    const namesReplaced = [...replaceOnly].some(
      (key) =>
        (!ignored.has(key) && [...replacedIds].some((id) => JSON.stringify(next.inputs[key] ?? null).includes(`"${id}"`))) ||
        (next.propertyDependencies[key] ?? []).some((urn) => deletedFirst.has(urn)),
    );
    if (changed.some((key) => replaceOnly.has(key)) || namesReplaced) {
      return next.options.protect ? { refused: `${resource.name} is protected and would be replaced (${changed.join(", ")})` } : "replace";
    }
    if (resource.type === VOLUME && changed.includes("size")) {
      const refusal = volumeSizeRefusal(resource, next, attached);
      if (refusal) return { refused: `${resource.name}: ${refusal}` };
    }
    if (changed.some((key) => REBUILT_BY[resource.type]?.has(key))) return "rebuild";
    return changed.length > 0 ? "update" : "same";
  };
  // Replacements propagate through ids until nothing new is replaced.
  for (let grown = true; grown; ) {
    grown = false;
    for (const resource of before) {
      const next = afterByUrn.get(resource.urn);
      const change: Change = next
        ? decide(resource, next)
        : resource.options.protect
          ? { refused: `${resource.name} is protected and would be deleted` }
          : "delete";
      plan.set(resource.name, change);
      if ((change === "replace" || change === "delete") && !replacedIds.has(`${resource.name}-id`)) {
        replacedIds.add(`${resource.name}-id`);
        if (change === "replace" && next?.options.deleteBeforeReplace) deletedFirst.add(resource.urn);
        grown = true;
      }
    }
  }
  return plan;
}

/** Only the resources that would change, as "name: change", for readable assertions. */
export function changesOf(plan: Map<string, Change>, types?: (name: string) => boolean): string[] {
  return [...plan]
    .filter(([name, change]) => change !== "same" && (!types || types(name)))
    .map(([name, change]) => `${name}: ${typeof change === "string" ? change : `refused (${change.refused})`}`)
    .sort();
}
