// The order store's reads by rights code on the real database (PostgreSQL when DATABASE_URL is set, else PGlite):
// concurrent reads share one statement, and each caller gets its own code's order, never another's, never a stale one.
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../test/support/databases.js";
import { systemClock } from "../common/clock.js";
import { sharedDatabase, type Database } from "../common/database.js";
import { KeyRing } from "../common/key-ring.js";
import { createLogger } from "../common/logger.js";
import { migrate } from "../common/migrate.js";
import { CHANNELS, INST_TYPES } from "./psbc/envelope.js";
import { ORDER_SCHEMA, OrderStore } from "./order-store.js";
import { ServiceTypes } from "./service-types.js";

const logger = createLogger("order-store-test", "silent");

describe(`order store reads by code (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"})`, () => {
  let t: TestDatabase;
  /** The statements that read orders by code. */
  let reads = 0;
  let store: OrderStore;

  beforeAll(async () => {
    t = await testDatabase();
    await migrate(t.db, { schema: ORDER_SCHEMA, migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)), logger });
    const counted: Database = {
      ...sharedDatabase(t.db),
      query: (text, params) => {
        if (text.includes("WHERE code = ANY")) reads++;
        return t.db.query(text, params);
      },
    };
    store = new OrderStore(counted, systemClock);
    await new ServiceTypes({ db: t.db, keys: new KeyRing(randomBytes(32)), logger }).put({
      type: "310001", name: "rights service", aesKey: "0123456789abcdef", aesIv: "fedcba9876543210", providerCode: "A101",
      voucherTemplateId: "TPL-310001", sendChannel: "BLUE_BROTHERS", validityDays: 30, strictMac: false,
    });
  });

  afterAll(async () => {
    await t?.drop();
  });

  const book = (code: string, mac: string) =>
    store.findOrCreate({
      code, type: "310001", mac, channel: CHANNELS[0], tranChnl: CHANNELS[0], instType: INST_TYPES[0], provinceInstNo: "11000000",
      backUrl: "https://bank.example/back", expireAt: new Date(Date.now() + 86_400_000),
    });

  it("answers concurrent reads of many codes with one statement, each its own order; unknown and repeated codes included", async () => {
    const codes = Array.from({ length: 40 }, () => `C${randomBytes(8).toString("hex")}`);
    for (const [i, code] of codes.entries()) await book(code, `mac-${i}`);
    const asked = [...codes, "no-such-code", codes[0]!, codes[0]!];
    reads = 0;
    const answers = await Promise.all(asked.map((code) => store.findByCode(code)));
    expect(reads).toBe(1);
    expect(answers.map((order) => order?.code)).toEqual([...codes, undefined, codes[0], codes[0]]);
    expect(answers.slice(0, 40).map((order) => order?.mac)).toEqual(codes.map((_code, i) => `mac-${i}`));
  });

  it("caches nothing: a read after a change sees it", async () => {
    const code = `C${randomBytes(8).toString("hex")}`;
    expect(await store.findByCode(code)).toBeUndefined();
    const { order } = await book(code, "mac-later");
    expect(await store.findByCode(code)).toMatchObject({ orderNo: order.orderNo, mac: "mac-later" });
  });
});
