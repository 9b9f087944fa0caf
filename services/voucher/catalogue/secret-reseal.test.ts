// Re-sealing the back office's secrets after a WHALE_KEK rotation, on the real store (PGlite, or PostgreSQL when
// DATABASE_URL is set): the secrets sealed under the old KEK, the service started with WHALE_KEK=new and
// WHALE_KEK_PREVIOUS=old, a re-seal run (killed half-way, then again), and then the new KEK alone opens
// everything: WHALE's private key of the sale channel, the send channel's orderEncryptKey, the ERP app's secret
// and the one its rotation replaced.
import { createHash, randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../../test/support/databases.js";
import { seedOffer } from "../../../test/support/whale-codes.js";
import type { Queryable } from "../../common/database.js";
import { KeyRing } from "../../common/key-ring.js";
import { createLogger } from "../../common/logger.js";
import { migrate } from "../../common/migrate.js";
import { createRateLimiter } from "../../common/rate-limiter.js";
import { VOUCHER_SCHEMA } from "../voucher-store.js";
import { AuditStore } from "./audit-store.js";
import { CatalogueStore, sealContext } from "./catalogue-store.js";
import { ErpApps } from "./erp-apps.js";
import { erpSignature } from "./erp-signature.js";
import { SEALED_COLUMNS, SecretReseal, type ResealCount } from "./secret-reseal.js";

const logger = createLogger("secret-reseal-test", "silent");
const oldKek = randomBytes(32);
const newKek = randomBytes(32);
const OLD_SECRET = "erp-reseal-old-secret-0123456";
const ORDER_KEY = "3des-key-of-the-esb-channel-0123";

describe(`re-sealing WHALE's secrets under a new KEK (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"})`, () => {
  let t: TestDatabase;
  const nonces = createRateLimiter({ logger, prefix: `secret-reseal-test:${randomBytes(4).toString("hex")}:` });
  let saleChannelId: string;
  let whalePrivateKey: string;
  let sendChannelId: string;
  let newSecret: string;
  const appsUnder = (keys: KeyRing) => new ErpApps({ db: t.db, keys, nonces, audit: new AuditStore(t.db), logger });
  const kekIds = async () => {
    const ids = new Set<string>();
    for (const { table, prefix } of SEALED_COLUMNS) {
      const { rows } = await t.db.query<{ kek: string }>(`SELECT DISTINCT ${prefix}_kek_id AS kek FROM ${table} WHERE ${prefix}_kek_id IS NOT NULL`);
      for (const row of rows) ids.add(row.kek);
    }
    return ids;
  };
  const totals = (counts: ResealCount[]) =>
    counts.reduce((sum, c) => ({ resealed: sum.resealed + c.resealed, skipped: sum.skipped + c.skipped, failed: sum.failed + c.failed, remaining: sum.remaining + c.remaining }), {
      resealed: 0, skipped: 0, failed: 0, remaining: 0,
    });

  beforeAll(async () => {
    t = await testDatabase();
    await migrate(t.db, { schema: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)), logger });
    // Everything sealed under the old KEK, as it was before the rotation.
    const old = new KeyRing(oldKek, undefined, "WHALE_KEK");
    for (let i = 0; i < 3; i += 1) saleChannelId = (await seedOffer(t.db, old)).saleChannelId;
    whalePrivateKey = (await new CatalogueStore(t.db, old).findSaleChannelKeys(saleChannelId))!.whalePrivateKey;
    const { rows } = await t.db.query<{ id: string }>(
      `INSERT INTO vouchers.send_channel (name, channel_type, config) VALUES ($1, 'ESB', '{}') RETURNING send_channel_id::text AS id`,
      [`esb-${randomBytes(4).toString("hex")}`],
    );
    sendChannelId = rows[0]!.id;
    const sealed = old.seal(Buffer.from(ORDER_KEY), sealContext.sendChannel(sendChannelId));
    await t.db.query(`UPDATE vouchers.send_channel SET secret_ciphertext = $2, secret_nonce = $3, secret_tag = $4, secret_kek_id = $5 WHERE send_channel_id = $1`, [
      sendChannelId, sealed.ciphertext, sealed.nonce, sealed.tag, sealed.kekId,
    ]);
    await appsUnder(old).add("erp-reseal", ["activityQuery"], OLD_SECRET);
    newSecret = (await appsUnder(old).rotate("erp-reseal")).secret;
    await appsUnder(old).add("erp-reseal-2", ["*"]);
  });
  afterAll(async () => {
    await nonces.close();
    await t?.drop();
  });

  it("re-seals every row under the new KEK, resuming after a run killed half-way; a second run finds nothing; then the new KEK alone opens all", async () => {
    const rotating = new KeyRing(newKek, oldKek, "WHALE_KEK");
    // A run that dies after its third write (the process killed mid-way).
    let writes = 0;
    const dying: Queryable = {
      query: async (text, params) => {
        if (text.trimStart().startsWith("UPDATE") && ++writes > 3) throw new Error("killed");
        return t.db.query(text, params);
      },
    };
    await expect(new SecretReseal({ db: dying, keys: rotating, logger }).resealAll()).rejects.toThrow("killed");
    expect(await kekIds()).toEqual(new Set([rotating.currentId, new KeyRing(oldKek).currentId]));

    const run = await new SecretReseal({ db: t.db, keys: rotating, logger }).resealAll();
    expect(run.kekId).toBe(rotating.currentId);
    // 3 sale channels + 1 send channel + 2 apps + 1 rotated-out secret = 7, three of them by the killed run.
    expect(totals(run.counts)).toEqual({ resealed: 4, skipped: 0, failed: 0, remaining: 0 });
    expect(run.counts.map((c) => c.name)).toEqual(["sale_channel.whale_private_key", "send_channel.order_encrypt_key", "erp_app.secret", "erp_app.previous_secret"]);
    expect(await kekIds()).toEqual(new Set([rotating.currentId]));
    expect(totals((await new SecretReseal({ db: t.db, keys: rotating, logger }).resealAll()).counts)).toEqual({ resealed: 0, skipped: 0, failed: 0, remaining: 0 });

    // WHALE_KEK_PREVIOUS dropped: everything still opens, each secret what it was.
    const alone = new KeyRing(newKek, undefined, "WHALE_KEK");
    const store = new CatalogueStore(t.db, alone);
    expect((await store.findSaleChannelKeys(saleChannelId))?.whalePrivateKey).toBe(whalePrivateKey);
    expect(await store.sendChannelSecret(sendChannelId)).toBe(ORDER_KEY);
    const apps = appsUnder(alone);
    for (const secret of [OLD_SECRET, newSecret]) {
      const base = { appId: "erp-reseal", timestamp: String(Date.now()), nonce: randomBytes(12).toString("hex"), path: "/whale/erp/activityQuery", action: "activityQuery", bodySha256: createHash("sha256").update("{}").digest("hex") };
      await expect(apps.authenticate({ ...base, signature: erpSignature(secret, base.path, base.timestamp, base.nonce, base.bodySha256) })).resolves.toBe("erp-reseal");
    }
  });

  it("leaves a row it cannot open (sealed under a third KEK) and one rewritten meanwhile as they are, and counts them", async () => {
    const stranger = new KeyRing(randomBytes(32), undefined, "WHALE_KEK");
    const strangeChannel = (await seedOffer(t.db, stranger)).saleChannelId;
    const previous = new KeyRing(newKek, undefined, "WHALE_KEK");
    // A replica still sealing under the KEK being rotated out rotates an app's secret.
    await appsUnder(previous).rotate("erp-reseal-2", undefined, 0);
    const next = new KeyRing(randomBytes(32), newKek, "WHALE_KEK");
    // ... and rotates it again just as the re-seal reads it: the re-seal must not write the older secret back.
    let rotated = "";
    const racing: Queryable = {
      query: async (text, params) => {
        if (!rotated && text.includes("UPDATE vouchers.erp_app") && params?.[0] === "erp-reseal-2") {
          rotated = (await appsUnder(previous).rotate("erp-reseal-2", undefined, 0)).secret;
        }
        return t.db.query(text, params);
      },
    };
    const run = await new SecretReseal({ db: racing, keys: next, logger }).resealAll();
    const byName = Object.fromEntries(run.counts.map((c) => [c.name, c]));
    expect(byName["sale_channel.whale_private_key"]).toMatchObject({ failed: 1, remaining: 1 });
    expect(byName["erp_app.secret"]).toMatchObject({ skipped: 1, remaining: 1 });
    const { rows } = await t.db.query<{ kek: string }>(`SELECT whale_private_kek_id AS kek FROM vouchers.sale_channel WHERE sale_channel_id = $1`, [strangeChannel]);
    expect(rows[0]?.kek).toBe(stranger.currentId);
    // The secret the racing rotation wrote is the one that verifies.
    const base = { appId: "erp-reseal-2", timestamp: String(Date.now()), nonce: randomBytes(12).toString("hex"), path: "/whale/erp/activityQuery", action: "activityQuery", bodySha256: createHash("sha256").update("{}").digest("hex") };
    await expect(appsUnder(next).authenticate({ ...base, signature: erpSignature(rotated, base.path, base.timestamp, base.nonce, base.bodySha256) })).resolves.toBe("erp-reseal-2");
    // Run again with nothing racing: only the stranger is left.
    expect(totals((await new SecretReseal({ db: t.db, keys: next, logger }).resealAll()).counts)).toMatchObject({ resealed: 1, failed: 1, remaining: 1 });
  });
});
