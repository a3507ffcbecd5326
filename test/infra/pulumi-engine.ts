/**
 * A pretend Pulumi engine, so that the program can be run the way `pulumi up` runs it: by Pulumi's
 * own nodejs runner (@pulumi/pulumi/cmd/run) in a child process, talking gRPC to a resource monitor
 * and an engine. The monitor is the SDK's MockMonitor answering from the pretend cloud
 * (mock-cloud.ts); this module adds the gRPC server around it and keeps what the program sent:
 * every registered resource and the stack's outputs.
 */
import { createRequire } from "node:module";
import { cloudMocks } from "../../scripts/lib/mock-cloud.ts";

const require = createRequire(import.meta.url);
const pulumiRequire = createRequire(require.resolve("@pulumi/pulumi"));
const grpc = pulumiRequire("@grpc/grpc-js");
const { MockMonitor } = require("@pulumi/pulumi/runtime/mocks.js");
const resourceProto = require("@pulumi/pulumi/proto/resource_pb.js");
const { ResourceMonitorService } = require("@pulumi/pulumi/proto/resource_grpc_pb.js");
const engineProto = require("@pulumi/pulumi/proto/engine_pb.js");
const { EngineService } = require("@pulumi/pulumi/proto/engine_grpc_pb.js");
const { Empty } = pulumiRequire("google-protobuf/google/protobuf/empty_pb.js");

export interface EngineRecord {
  /** type and name of every resource the program registered. */
  resources: Array<{ type: string; name: string; urn: string }>;
  /** Outputs registered per URN (the stack's are its exports), secrets still marked. */
  outputs: Map<string, Record<string, unknown>>;
  /** What the program logged through the engine as a warning or an error (debug and info are chatter). */
  log: string[];
}

export interface PretendEngine {
  address: string;
  record: EngineRecord;
  stop(): Promise<void>;
}

type Callback = (error: unknown, response?: unknown) => void;

export async function startPretendEngine(): Promise<PretendEngine> {
  const monitor = new MockMonitor(cloudMocks);
  const record: EngineRecord = { resources: [], outputs: new Map(), log: [] };
  let rootUrn = "";
  const server = new grpc.Server();
  server.addService(ResourceMonitorService, {
    supportsFeature(call: any, callback: Callback) {
      // As the SDK's own mocks: everything but output values in inputs.
      callback(null, new resourceProto.SupportsFeatureResponse().setHassupport(call.request.getId() !== "outputValues"));
    },
    registerResource(call: any, callback: Callback) {
      monitor.registerResource(call.request, (error: unknown, response: any) => {
        if (response) record.resources.push({ type: call.request.getType(), name: call.request.getName(), urn: response.getUrn() });
        callback(error, response);
      });
    },
    registerResourceOutputs(call: any, callback: Callback) {
      record.outputs.set(call.request.getUrn(), call.request.getOutputs()?.toJavaScript() ?? {});
      callback(null, new Empty());
    },
    invoke: (call: any, callback: Callback) => monitor.invoke(call.request, callback),
    registerPackage: (call: any, callback: Callback) => monitor.registerPackage(call.request, callback),
    signalAndWaitForShutdown: (_call: any, callback: Callback) => callback(null, new Empty()),
  });
  server.addService(EngineService, {
    log(call: any, callback: Callback) {
      if (call.request.getSeverity() >= engineProto.LogSeverity.WARNING) record.log.push(call.request.getMessage());
      callback(null, new Empty());
    },
    getRootResource: (_call: any, callback: Callback) => callback(null, new engineProto.GetRootResourceResponse().setUrn(rootUrn)),
    setRootResource(call: any, callback: Callback) {
      rootUrn = call.request.getUrn();
      callback(null, new engineProto.SetRootResourceResponse());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error: Error | null, bound: number) => (error ? reject(error) : resolve(bound))),
  );
  return {
    address: `127.0.0.1:${port}`,
    record,
    stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };
}
