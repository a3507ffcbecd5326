/**
 * One resource as the Pulumi program declared it under mocks: what the mock cloud records, and
 * what the provider's rules and the local cloud judge. Its own module so that the rules need not
 * import the mock cloud that applies them.
 */
export interface RecordedResource {
  urn: string;
  type: string;
  name: string;
  /** Inputs as the mock saw them (secrets unwrapped). */
  inputs: Record<string, any>;
  /** Inputs as serialized for the engine: secret values are {SECRET_SIGNATURE: ..., value}. */
  serialized: Record<string, unknown>;
  /** What the pretend cloud answered (e.g. a port's allFixedIps). */
  outputs: Record<string, any>;
  parent: string;
  dependencies: string[];
  /** For each input, the URNs its value came from (the engine's PropertyDependencies). */
  propertyDependencies: Record<string, string[]>;
  /** The resource options the engine would act on when it diffs this run against the last. */
  options: {
    ignoreChanges: string[];
    replaceOnChanges: string[];
    protect: boolean;
    retainOnDelete: boolean;
    deleteBeforeReplace: boolean;
    additionalSecretOutputs: string[];
  };
}
