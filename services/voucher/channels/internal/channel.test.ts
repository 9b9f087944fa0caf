// WHALE's own send channel on the real PostgreSQL when DATABASE_URL is set (PGlite otherwise).
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../../../test/support/databases.js";
import { createLogger } from "../../../common/logger.js";
import { migrate } from "../../../common/migrate.js";
import { VOUCHER_SCHEMA } from "../../voucher-store.js";
import { VoucherAlreadyRedeemed, type MakeCodesOrder } from "../send-channel.js";
import { createInternalChannel } from "./channel.js";
import { isWellFormedCode } from "./code-generator.js";

const logger = createLogger("internal-channel-test", "silent");
let sequence = 0;
function order(codeNum: number): MakeCodesOrder {
  sequence += 1;
  const now = new Date();
  return {
    sendChannelOrderId: `SCO-${process.pid}-${sequence}`, whaleTradeNo: `T-${sequence}`, saleChannelId: "1", sendChannelId: "9",
    saleChannelItemId: "item", productRef: "P-1", codeNum, useTimes: 1, validStart: now, validEnd: now, createdAt: now,
  };
}

describe(`WHALE's internal send channel (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"})`, () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await testDatabase();
    await migrate(t.db, { schema: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("../../migrations", import.meta.url)), logger });
  });
  afterAll(async () => {
    await t?.drop();
  });

  it("makes well-formed, distinct codes; a repeat of the order answers the same codes", async () => {
    const channel = createInternalChannel({ db: t.db, codeUrl: (code) => `https://whale.example/c/${code}` });
    const o = order(50);
    const made = await channel.makeCodes(o);
    expect(made).toHaveLength(50);
    expect(new Set(made.map((c) => c.code)).size).toBe(50);
    for (const c of made) {
      expect(isWellFormedCode(c.code)).toBe(true);
      expect(c).toEqual({ code: c.code, url: `https://whale.example/c/${c.code}`, channelRef: o.sendChannelOrderId });
    }
    expect(await channel.makeCodes(o)).toEqual(made);
  });

  it("makes an order's codes once when repeats run at once", async () => {
    const channel = createInternalChannel({ db: t.db });
    const o = order(20);
    const answers = await Promise.all(Array.from({ length: 8 }, () => channel.makeCodes(o)));
    for (const answer of answers) expect(answer).toEqual(answers[0]);
    const { rows } = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM vouchers.internal_code WHERE send_channel_order_id = $1`, [o.sendChannelOrderId]);
    expect(rows[0]?.n).toBe(20);
  });

  it("draws again when a code collides with one already made (the unique key refuses it)", async () => {
    // All-zero bytes give the all-zero code: one order takes it, then an order whose first draw is it again.
    const [zero] = await createInternalChannel({ db: t.db, random: (size) => Buffer.alloc(size, 0) }).makeCodes(order(1));
    expect(zero?.code).toBe("0".repeat(26));
    let draws = 0;
    const replayFirst = (size: number) => (draws++ === 0 ? Buffer.alloc(size, 0) : randomBytes(size));
    const [fresh] = await createInternalChannel({ db: t.db, random: replayFirst }).makeCodes(order(1));
    expect(draws).toBe(2);
    expect(fresh?.code).not.toBe(zero?.code);
    expect(isWellFormedCode(fresh?.code ?? "")).toBe(true);
  });

  it("voids a code once; a redeemed code refuses the void; query tells each state", async () => {
    const channel = createInternalChannel({ db: t.db });
    const [a, b] = await channel.makeCodes(order(2));
    if (!a || !b) throw new Error("two codes expected");
    expect(await channel.queryCode(a)).toEqual({ status: "NORMAL", redeemedAt: undefined });
    await channel.voidCode(a);
    await channel.voidCode(a);
    expect((await channel.queryCode(a)).status).toBe("VOIDED");
    await t.db.query(`UPDATE vouchers.internal_code SET status = 2, redeemed_at = now() WHERE code = $1`, [b.code]);
    await expect(channel.voidCode(b)).rejects.toBeInstanceOf(VoucherAlreadyRedeemed);
    expect((await channel.queryCode(b)).status).toBe("REDEEMED");
    await expect(channel.queryCode({ code: "1", channelRef: "x" })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
