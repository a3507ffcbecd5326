import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

export interface ProxyTlsArgs {
  /** The certificate's subject name (the manager's server name). */
  commonName: string;
  /** Every address tenants or the health check may use: the floating IP and the private address. */
  ipAddresses: pulumi.Input<string>[];
  /** Extra DNS names (berth:proxy.dnsNames). */
  dnsNames: string[];
  /** For the CA's subject: one CA per stack. */
  clusterName: string;
}

const HOURS_PER_YEAR = 24 * 365;

/**
 * A private CA per stack and the proxy's server certificate, signed by it. Tenants trust only this
 * CA for this endpoint; every private key stays in the stack's state as a secret. The server
 * certificate renews itself on the first `pulumi up` within 30 days of its expiry.
 */
export class ProxyTls extends pulumi.ComponentResource {
  readonly caCertPem: pulumi.Output<string>;
  readonly serverCertPem: pulumi.Output<string>;
  /** Secret. */
  readonly serverKeyPem: pulumi.Output<string>;

  constructor(name: string, args: ProxyTlsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:infra:ProxyTls", name, {}, opts);
    const caKey = new tls.PrivateKey(`${name}-ca-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this });
    const ca = new tls.SelfSignedCert(
      `${name}-ca`,
      {
        privateKeyPem: pulumi.secret(caKey.privateKeyPem),
        subject: { commonName: `berth CA (${args.clusterName})`, organization: "berth" },
        isCaCertificate: true,
        validityPeriodHours: 10 * HOURS_PER_YEAR,
        allowedUses: ["cert_signing", "crl_signing"],
      },
      { parent: this },
    );
    const serverKey = new tls.PrivateKey(`${name}-server-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this });
    const request = new tls.CertRequest(
      `${name}-server-csr`,
      {
        privateKeyPem: pulumi.secret(serverKey.privateKeyPem),
        subject: { commonName: args.commonName, organization: "berth" },
        ipAddresses: args.ipAddresses,
        dnsNames: args.dnsNames,
      },
      { parent: this },
    );
    const server = new tls.LocallySignedCert(
      `${name}-server`,
      {
        certRequestPem: request.certRequestPem,
        caPrivateKeyPem: pulumi.secret(caKey.privateKeyPem),
        caCertPem: ca.certPem,
        validityPeriodHours: HOURS_PER_YEAR,
        earlyRenewalHours: 30 * 24,
        allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
      },
      { parent: this },
    );
    this.caCertPem = ca.certPem;
    this.serverCertPem = server.certPem;
    this.serverKeyPem = pulumi.secret(serverKey.privateKeyPem);
    this.registerOutputs({ caCertPem: this.caCertPem, serverCertPem: this.serverCertPem });
  }
}
