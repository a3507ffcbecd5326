import { remote, type types } from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { ProvisionedFile } from "../render.ts";
import { managerPlan, PATHS, provisionScriptFor, proxyBundleFiles, proxyHealthCheckFor, proxyTlsFiles, type ManagerPlanInput } from "../roles.ts";
import { Provisioner } from "./provisioner.ts";
import type { Swarm } from "./swarm.ts";

export interface TenantProxyArgs {
  /** SSH to the manager (directly: it is the bastion). */
  connection: pulumi.Input<types.input.remote.ConnectionArgs>;
  /** The manager VM and the image it runs; a rebuilt manager gets the proxy again. */
  instanceId: pulumi.Input<string>;
  builtFrom: pulumi.Input<string>;
  /** Files only provisioning carries besides the TLS material (the SSH authorized keys). */
  files: pulumi.Input<ProvisionedFile[]>;
  /** What the manager's plan (roles.ts managerPlan) and the health check are made from. */
  manager: pulumi.Input<ManagerPlanInput>;
  /** The address tenants use, which the health check verifies the certificate for. */
  publicAddress: pulumi.Input<string>;
  tls: { caCertPem: pulumi.Input<string>; serverCertPem: pulumi.Input<string>; serverKeyPem: pulumi.Input<string> };
  /** The bundled proxy on this machine and its SHA-256, and the same for its source map. */
  bundle: { path: string; sha256: string; sourceMap: { path: string; sha256: string } };
  /** The manager's floating IP association: nothing can reach the manager before it. */
  reachable: pulumi.Resource[];
  /**
   * The engines' provisioning, and on the current line the swarm's forming: done before the
   * proxy's, and the health check runs again whenever one runs again.
   */
  after: Array<Provisioner | Swarm>;
}

/**
 * The tenant proxy on the manager: the bundle copied over, the manager provisioned with the proxy's
 * configuration and TLS material, and a health check that fails `pulumi up` unless `_ping`
 * answers OK through TLS and the proxy reaches its engines, Keystone and its volume root.
 */
export class TenantProxy extends pulumi.ComponentResource {
  /** The provisioning log. */
  readonly log: pulumi.Output<string>;
  /** The health check's answer. */
  readonly health: pulumi.Output<string>;

  constructor(name: string, args: TenantProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:infra:TenantProxy", name, {}, opts);
    const copy = (suffix: string, file: { path: string; sha256: string }, remotePath: string) =>
      new remote.CopyToRemote(
        `${name}-${suffix}`,
        { connection: args.connection, source: new pulumi.asset.FileAsset(file.path), remotePath, triggers: [args.instanceId, args.builtFrom, file.sha256] },
        { parent: this, dependsOn: args.reachable },
      );
    const copies = [copy("bundle", args.bundle, PATHS.proxyStaging), copy("bundle-map", args.bundle.sourceMap, PATHS.proxySourceMapStaging)];
    const script = pulumi
      .all([pulumi.output(args.manager).apply(managerPlan), args.files, args.tls.caCertPem, args.tls.serverCertPem, args.tls.serverKeyPem])
      .apply(([plan, files, caCert, serverCert, serverKey]) =>
        provisionScriptFor(plan, { files: [...files, ...proxyTlsFiles({ caCert, serverCert, serverKey })], staged: proxyBundleFiles(args.bundle) }),
      );
    const provisioner = new Provisioner(
      `${name}-provision`,
      {
        connection: args.connection,
        instanceId: args.instanceId,
        builtFrom: args.builtFrom,
        script: pulumi.secret(script),
        after: [...args.reachable, ...args.after, ...copies],
      },
      { parent: this },
    );
    const healthCheck = pulumi.all([args.manager, args.publicAddress]).apply(([manager, address]) => proxyHealthCheckFor(manager, address));
    const health = new remote.Command(
      `${name}-health`,
      {
        connection: args.connection,
        create: "sudo bash -s",
        stdin: healthCheck,
        // Checked again whenever the proxy or an engine was provisioned again (a command's id changes
        // exactly when its triggers do): a rebuilt VM is provisioned with an unchanged script.
        triggers: [provisioner.command.id, ...args.after.map((engine) => engine.command.id)],
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: [provisioner] },
    );
    this.log = provisioner.log;
    this.health = health.stdout;
    this.registerOutputs({ log: this.log, health: this.health });
  }
}
