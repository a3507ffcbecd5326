import { defineConfig } from "vitest/config";

/**
 * Two tiers. `unit` needs no daemon and no root: pure functions, the Pulumi program under mocks,
 * rendered files, scripts run against stand-ins (`npm run test:unit`, seconds). `daemons` starts
 * real dockerd, Keystone, etcd, a registry and network namespaces, as root, and gets the global
 * setup that makes the run's bridge and shared daemons. `npm test` runs both and prints one summary.
 */
const UNIT_TESTS = [
  "test/proxy/**/*.test.ts",
  "test/architecture/*.test.ts",
  "test/infra/**/*.test.ts",
  "test/scripts/*-parts.test.ts",
  "test/scripts/local-cluster-configs.test.ts",
];

export default defineConfig({
  test: {
    pool: "forks",
    maxWorkers: 2,
    // The daemon tier's global teardown stops every daemon of the run.
    teardownTimeout: 60_000,
    reporters: ["default", "./test/summary-reporter.ts"],
    projects: [
      {
        extends: true,
        test: { name: "unit", include: UNIT_TESTS, testTimeout: 60_000 },
      },
      {
        extends: true,
        test: {
          name: "daemons",
          include: ["test/**/*.test.ts"],
          exclude: UNIT_TESTS,
          // Integration suites start real daemons (dockerd, Keystone, a registry): give them room.
          testTimeout: 120_000,
          hookTimeout: 180_000,
          globalSetup: ["test/global-setup.ts"],
        },
      },
    ],
  },
});
