import type { Database } from "../../../common/database.js";
import { UpstreamError } from "../../../common/upstream-http.js";
import { VoucherAlreadyRedeemed, type MadeCode, type SendChannel } from "../send-channel.js";
import { generateCodes, type RandomSource } from "./code-generator.js";

/** A draw colliding with a code already made is drawn again; at 83 bits a second collision in a row is unheard of. */
const MAX_DRAWS = 5;
/** Rows per INSERT: one round trip per chunk, well under PostgreSQL's parameter and statement limits. */
const CHUNK = 5_000;

const STATUSES = { 1: "NORMAL", 2: "REDEEMED", 3: "VOIDED" } as const;

/**
 * WHALE's own send channel, for templates whose send channel is internal: codes from `code-generator.ts`, kept in
 * `vouchers.internal_code`. Behaves as an external channel does: idempotent by the order id (a repeat answers the
 * same codes, concurrent repeats too: the (order, seq) key lets one insert win), void and query by code.
 * `codeUrl` makes each code's URL (the page or QR image a customer shows); none: an empty URL.
 */
export function createInternalChannel(deps: { db: Database; codeUrl?: (code: string) => string; random?: RandomSource }): SendChannel {
  const { db } = deps;
  const url = deps.codeUrl ?? (() => "");
  return {
    async makeCodes(order) {
      const id = order.sendChannelOrderId;
      for (let draw = 0; draw < MAX_DRAWS; draw += 1) {
        const missing = await missingSeqs(db, id, order.codeNum);
        if (missing.length === 0) break;
        for (let at = 0; at < missing.length; at += CHUNK) {
          const seqs = missing.slice(at, at + CHUNK);
          // A colliding code or a seq another caller filled first are both skipped here; the loop sees what is left.
          await db.query(
            `INSERT INTO vouchers.internal_code (code, send_channel_order_id, seq)
             SELECT code, $1, seq FROM unnest($2::text[], $3::int[]) AS drawn(code, seq) ON CONFLICT DO NOTHING`,
            [id, generateCodes(seqs.length, deps.random), seqs],
          );
        }
      }
      const { rows } = await db.query<{ code: string }>(
        `SELECT code FROM vouchers.internal_code WHERE send_channel_order_id = $1 AND seq <= $2 ORDER BY seq`,
        [id, order.codeNum],
      );
      if (rows.length < order.codeNum) throw new Error(`internal channel: ${order.codeNum - rows.length} codes still colliding after ${MAX_DRAWS} draws`);
      return rows.map(({ code }): MadeCode => ({ code, url: url(code), channelRef: id }));
    },

    async voidCode({ code, channelRef }) {
      const { rows } = await db.query<{ status: number }>(
        `WITH voided AS (UPDATE vouchers.internal_code SET status = 3, updated_at = now() WHERE code = $1 AND status = 1 RETURNING status)
         SELECT status FROM voided UNION ALL SELECT status FROM vouchers.internal_code WHERE code = $1 AND status = 2`,
        [code],
      );
      if (rows.some((row) => row.status === 2)) throw new VoucherAlreadyRedeemed(channelRef);
    },

    async queryCode({ code }) {
      const { rows } = await db.query<{ status: 1 | 2 | 3; redeemed_at: Date | null }>(
        `SELECT status, redeemed_at FROM vouchers.internal_code WHERE code = $1`,
        [code],
      );
      const row = rows[0];
      if (!row) throw new UpstreamError("rejected", "internal", "query", "NOT_FOUND", "no such code");
      return { status: STATUSES[row.status], redeemedAt: row.redeemed_at ?? undefined };
    },
  };
}

async function missingSeqs(db: Database, id: string, codeNum: number): Promise<number[]> {
  const { rows } = await db.query<{ seq: number }>(
    `SELECT s AS seq FROM generate_series(1, $2::int) AS s
      WHERE NOT EXISTS (SELECT 1 FROM vouchers.internal_code WHERE send_channel_order_id = $1 AND seq = s) ORDER BY s`,
    [id, codeNum],
  );
  return rows.map((row) => row.seq);
}
