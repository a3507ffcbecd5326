// The entry point Pulumi's policy runner require()s (package.json "main"). The nodejs host hands
// PulumiPolicy.yaml's nodeargs to the runner script rather than to node, so `--import tsx` cannot
// be given, and tsx's ESM API cannot be registered from CommonJS: its CommonJS loader, registered
// here, compiles the TypeScript pack when it is required.
require("tsx/cjs/api").register();
module.exports = require("./pack.ts");
