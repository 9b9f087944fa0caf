import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../test/support/databases.js";
import { reasonOf } from "../common/errors.js";
import { KeyRing } from "../common/key-ring.js";
import { createLogger } from "../common/logger.js";
import { migrate } from "../common/migrate.js";
import { OrderError, OrderErrorSchema } from "./errors.js";
import { orderService, sandboxServiceType } from "./service.js";
import { ServiceTypes } from "./service-types.js";

const logger = createLogger("service-types-test", "silent");

describe(`service types (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"})`, () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await testDatabase();
    await migrate(t.db, { schema: orderService.schema.name, migrationsDir: orderService.schema.migrationsDir, logger });
  });
  // Each test its own KEKs: a row sealed under another test's KEK would (rightly) stop sealAll.
  beforeEach(async () => {
    await t.db.query("DELETE FROM orders.service_type");
  });
  afterAll(async () => {
    await t?.drop();
  });

  const kek = () => randomBytes(32);
  const secretOf = (type: string) => ({ ...sandboxServiceType({ key: "rotation-key-000", iv: "rotation-iv-0000" }), type });

  it("stores keys sealed: the table holds no plaintext, and only the KEK opens them", async () => {
    const keys = new KeyRing(kek());
    await new ServiceTypes({ db: t.db, keys, logger }).put(secretOf("S1"));
    const { rows } = await t.db.query("SELECT * FROM orders.service_type WHERE type = 'S1'");
    expect(rows[0]).toMatchObject({ aes_key: null, aes_iv: null, secret_kek_id: keys.currentId });
    expect(Buffer.from(rows[0]?.secret_ciphertext as Uint8Array).toString("latin1")).not.toContain("rotation");
    expect(await new ServiceTypes({ db: t.db, keys, logger }).require("S1")).toMatchObject({ aesKey: "rotation-key-000", aesIv: "rotation-iv-0000" });
    await expect(new ServiceTypes({ db: t.db, keys: new KeyRing(kek()), logger }).require("S1")).rejects.toThrow(/neither SERVICE_TYPE_KEK/);
  });

  it("seals the rows an older version left in plaintext, at start", async () => {
    await t.db.query(
      `INSERT INTO orders.service_type (type, name, aes_key, aes_iv, provider_code, voucher_template_id, send_channel, validity_days)
       VALUES ('P1', 'plain', 'plaintext-key-00', 'plaintext-iv-000', 'A101', 'TPL', 'BLUE_BROTHERS', 30)`,
    );
    const serviceTypes = new ServiceTypes({ db: t.db, keys: new KeyRing(kek()), logger });
    expect(await serviceTypes.sealAll()).toBe(1);
    const { rows } = await t.db.query("SELECT aes_key, aes_iv, secret_kek_id FROM orders.service_type WHERE type = 'P1'");
    expect(rows[0]).toMatchObject({ aes_key: null, aes_iv: null });
    expect(await serviceTypes.require("P1")).toMatchObject({ aesKey: "plaintext-key-00", aesIv: "plaintext-iv-000" });
  });

  it("rotates the KEK without downtime: old and new replicas read during the rollout, then rows are re-sealed", async () => {
    const oldKek = kek();
    const newKek = kek();
    await new ServiceTypes({ db: t.db, keys: new KeyRing(oldKek), logger }).put(secretOf("R1"));
    // Phase 1: every replica learns the new KEK as an accepted one; phase 2: it becomes current and re-seals.
    const phase1 = new ServiceTypes({ db: t.db, keys: new KeyRing(oldKek, newKek), logger });
    const phase2 = new ServiceTypes({ db: t.db, keys: new KeyRing(newKek, oldKek), logger });
    expect(await phase2.sealAll()).toBe(1);
    expect(await phase2.sealAll()).toBe(0);
    expect((await phase1.require("R1")).aesKey).toBe("rotation-key-000");
    // Phase 3: the old KEK is gone, and nothing needed it any more.
    const done = new ServiceTypes({ db: t.db, keys: new KeyRing(newKek), logger });
    expect((await done.require("R1")).aesKey).toBe("rotation-key-000");
    const { rows } = await t.db.query<{ n: number }>("SELECT count(*)::int AS n FROM orders.service_type WHERE secret_kek_id <> $1", [
      new KeyRing(newKek).currentId,
    ]);
    expect(rows[0]?.n).toBe(0);
  });

  it("keeps at most its bound of cached types, however many unknown types are asked for", async () => {
    let queries = 0;
    const counting = { query: (text: string, params?: readonly unknown[]) => (queries++, t.db.query(text, params)) } as typeof t.db;
    const serviceTypes = new ServiceTypes({ db: counting, keys: new KeyRing(kek()), logger, cacheMaxEntries: 3 });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.stringMatching(/^[0-9]{6}$/), { minLength: 4, maxLength: 12 }), async (types) => {
        for (const type of types) {
          expect(reasonOf(await serviceTypes.require(type).catch((err: unknown) => err), OrderErrorSchema)).toBe(OrderError.SERVICE_NOT_SUPPORTED);
        }
        // The last three are cached (no query); the first was evicted (asked again, it queries).
        const before = queries;
        for (const type of types.slice(-3)) await serviceTypes.require(type).catch(() => undefined);
        expect(queries).toBe(before);
        await serviceTypes.require(types[0] ?? "").catch(() => undefined);
        expect(queries).toBe(before + 1);
      }),
      { numRuns: 10 },
    );
  });
});
