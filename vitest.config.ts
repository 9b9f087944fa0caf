import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["services/**/*.test.ts", "gateway/**/*.test.ts", "test/**/*.test.ts"],
    // Files run in separate processes; the real-server tests isolate themselves by database and key prefix.
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
