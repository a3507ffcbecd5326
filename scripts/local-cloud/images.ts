/**
 * The local cloud's images, as its Glance would hold them: each image name a server may boot from,
 * and the Debian release of the base image (scripts/local-cloud/base-image.sh) its machine boots
 * on. Pure.
 */

/** The releases base-image.sh builds. */
export type BaseRelease = "bookworm" | "trixie";

/** Image name -> release: the stacks' `berth:image` for the local cloud (stacks/Pulumi.local-cloud*.yaml). */
const LOCAL_IMAGES = new Map<string, BaseRelease>([
  ["debian-12-local", "bookworm"],
  ["debian-13-local", "trixie"],
]);

/** The release a server's image boots; any other image is refused, as Glance would find no such image. */
export function baseReleaseOf(image: string): BaseRelease {
  const release = LOCAL_IMAGES.get(image);
  if (!release) {
    const known = [...LOCAL_IMAGES].map(([name, of]) => `${name} (${of})`).join(", ");
    throw new Error(`the local cloud has no image "${image}": its images are ${known}`);
  }
  return release;
}

/** The base images a set of servers needs, each once, in a stable order. */
export const baseReleasesFor = (images: string[]): BaseRelease[] => [...new Set(images.map(baseReleaseOf))].sort();
