import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../test/support/databases.js";
import { issueVoucher } from "../../test/support/blue-brothers.js";
import { createLogger } from "../common/logger.js";
import { createBlueBrothersChannel } from "../voucher/channels/blue-brothers/channel.js";
import { startBlueBrothersSandbox } from "./blue-brothers-sandbox.js";
import { databaseSandboxStore, memorySandboxStore, type SandboxRecords, type SandboxStore } from "./sandbox-store.js";

const logger = createLogger("test", "silent");

/** The store with a pause before each call, as a busy database would answer. */
function slowed(store: SandboxStore, ms: number): SandboxStore {
  return {
    records<T>(kind: string): SandboxRecords<T> {
      const records = store.records<T>(kind);
      return {
        get: async (key) => (await sleep(ms), records.get(key)),
        put: async (key, value) => (await sleep(ms), records.put(key, value)),
        delete: async (key) => (await sleep(ms), records.delete(key)),
        list: async () => (await sleep(ms), records.list()),
      };
    },
  };
}

describe(`sandbox store (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"})`, () => {
  let t: TestDatabase;
  let database: SandboxStore;
  beforeAll(async () => {
    t = await testDatabase();
    database = await databaseSandboxStore(t.db, logger);
  });
  afterAll(async () => {
    await t?.drop();
  });

  const operation = fc.oneof(
    fc.record({ op: fc.constant("put" as const), key: fc.constantFrom("a", "b", "c", "键"), value: fc.jsonValue({ stringUnit: "grapheme" }) }),
    fc.record({ op: fc.constant("delete" as const), key: fc.constantFrom("a", "b", "c", "键") }),
  );

  it("keeps the same records, in the same order, in memory and in the database", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { maxLength: 12 }), async (operations) => {
        const kind = `kind-${(run += 1)}`;
        const stores = [memorySandboxStore().records<unknown>(kind), database.records<unknown>(kind)];
        for (const step of operations) {
          for (const records of stores) {
            if (step.op === "put") await records.put(step.key, step.value);
            else await records.delete(step.key);
          }
        }
        const [memory, kept] = await Promise.all(stores.map((records) => records.list()));
        expect(kept).toEqual(memory);
        for (const key of ["a", "b", "c", "键"]) {
          expect(await stores[1]?.get(key)).toEqual(await stores[0]?.get(key));
        }
      }),
      { numRuns: 30 },
    );
  });

  it("issues one voucher for concurrent issues of one order, however slow the store's round trips", async () => {
    const credentials = { appId: "bb-test", appSecret: "bb-test-secret" };
    const sandbox = await startBlueBrothersSandbox({ ...credentials, store: slowed(database, 5) });
    try {
      const channel = createBlueBrothersChannel({ baseUrl: sandbox.url, ...credentials, timeoutMs: 5_000 });
      const input = { outOrderNo: `ORD-CONCURRENT-${process.pid}`, templateId: "TPL-1", rightsCode: "R-1", customerRef: "customer-1" };
      const issued = await Promise.all(Array.from({ length: 20 }, () => issueVoucher(channel, input)));
      expect(new Set(issued.map((voucher) => voucher.voucherNo)).size).toBe(1);
    } finally {
      await sandbox.close();
    }
  });
});
