/**
 * What an engine holds, read directly (never through the proxy), as one comparable string:
 * containers with their state, labels and networks, networks and volumes. A refused attempt must
 * leave it exactly as it was.
 */
import type { Engine } from "../../scripts/harness/index.ts";

export async function engineState(engine: Engine): Promise<string> {
  const [containers, networks, volumes] = await Promise.all([
    engine.api("GET", "/containers/json?all=1"),
    engine.api("GET", "/networks"),
    engine.api("GET", "/volumes"),
  ]);
  return JSON.stringify({
    containers: (containers.body as any[])
      .map((c) => `${c.Names[0]} ${c.State} ${JSON.stringify(c.Labels)} ${JSON.stringify(Object.keys(c.NetworkSettings.Networks))}`)
      .sort(),
    networks: (networks.body as any[]).map((n) => n.Name).sort(),
    volumes: ((volumes.body as any).Volumes ?? []).map((v: any) => v.Name).sort(),
  });
}
