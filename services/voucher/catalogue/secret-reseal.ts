// Re-sealing the back office's secrets under the current WHALE_KEK after a rotation, so the previous KEK can be
// dropped: every sealed column set (WHALE's private key per sale channel, a send channel's orderEncryptKey, an
// ERP app's secret and its rotated-out one) whose kek_id is not the current KEK's is opened and sealed again.
// Row by row, each UPDATE its own commit, guarded by the ciphertext it read: a run killed half-way resumes
// where it stopped, a second run finds nothing to do, and a row rewritten meanwhile (a rotation, an update
// sealing under either KEK) is left as the writer left it and counted as skipped.
import type { Queryable } from "../../common/database.js";
import type { KeyRing, SealedSecret } from "../../common/key-ring.js";
import type { Logger } from "../../common/logger.js";
import { sealContext } from "./catalogue-store.js";

/** One sealed column set: `<prefix>_ciphertext`, `_nonce`, `_tag`, `_kek_id` of a table, bound to its row's id. */
interface SealedColumns {
  /** What the operator reads in the counts. */
  name: string;
  table: string;
  id: string;
  prefix: string;
  context(id: string): string;
}

export const SEALED_COLUMNS: readonly SealedColumns[] = [
  { name: "sale_channel.whale_private_key", table: "vouchers.sale_channel", id: "sale_channel_id", prefix: "whale_private", context: sealContext.saleChannel },
  { name: "send_channel.order_encrypt_key", table: "vouchers.send_channel", id: "send_channel_id", prefix: "secret", context: sealContext.sendChannel },
  { name: "erp_app.secret", table: "vouchers.erp_app", id: "app_id", prefix: "secret", context: sealContext.erpApp },
  { name: "erp_app.previous_secret", table: "vouchers.erp_app", id: "app_id", prefix: "previous_secret", context: sealContext.erpAppPrevious },
];

export interface ResealCount {
  name: string;
  /** Sealed again under the current KEK by this run. */
  resealed: number;
  /** Rewritten by someone else between this run's read and its write: left as they are. */
  skipped: number;
  /** Not opened: sealed under a KEK that is neither WHALE_KEK nor WHALE_KEK_PREVIOUS, or altered. */
  failed: number;
  /** Still under another KEK after the run (failed ones and any written meanwhile under the previous KEK). */
  remaining: number;
}

interface SealedRow {
  id: string;
  ciphertext: Buffer;
  nonce: Buffer;
  tag: Buffer;
  kek_id: string;
}

/** Rows read per query: the keyset page, so memory stays flat however many rows there are. */
const PAGE = 200;

export class SecretReseal {
  constructor(private readonly options: { db: Queryable; keys: KeyRing; logger: Logger }) {}

  /** Every sealed column set re-sealed under the current KEK; the counts per set. */
  async resealAll(): Promise<{ kekId: string; counts: ResealCount[] }> {
    const counts: ResealCount[] = [];
    for (const columns of SEALED_COLUMNS) counts.push(await this.reseal(columns));
    const { keys, logger } = this.options;
    logger.info({ kekId: keys.currentId, counts }, "WHALE secrets re-sealed under the current KEK");
    return { kekId: keys.currentId, counts };
  }

  private async reseal(columns: SealedColumns): Promise<ResealCount> {
    const { db, keys, logger } = this.options;
    const { table, id, prefix } = columns;
    const count: ResealCount = { name: columns.name, resealed: 0, skipped: 0, failed: 0, remaining: 0 };
    for (let after = ""; ; ) {
      const { rows } = await db.query<SealedRow>(
        `SELECT ${id}::text AS id, ${prefix}_ciphertext AS ciphertext, ${prefix}_nonce AS nonce, ${prefix}_tag AS tag, ${prefix}_kek_id AS kek_id
           FROM ${table}
          WHERE ${prefix}_kek_id IS NOT NULL AND ${prefix}_kek_id <> $1 AND ${id}::text > $2
          ORDER BY ${id}::text LIMIT ${PAGE}`,
        [keys.currentId, after],
      );
      for (const row of rows) {
        const sealed: SealedSecret = { ciphertext: row.ciphertext, nonce: row.nonce, tag: row.tag, kekId: row.kek_id };
        let plain: Buffer;
        try {
          plain = keys.open(sealed, columns.context(row.id));
        } catch {
          count.failed += 1;
          logger.error({ sealed: columns.name, id: row.id, kekId: row.kek_id }, "sealed secret does not open under WHALE_KEK or WHALE_KEK_PREVIOUS; left as it is");
          continue;
        }
        const again = keys.seal(plain, columns.context(row.id));
        const { rowCount } = await db.query(
          `UPDATE ${table} SET ${prefix}_ciphertext = $2, ${prefix}_nonce = $3, ${prefix}_tag = $4, ${prefix}_kek_id = $5
            WHERE ${id}::text = $1 AND ${prefix}_kek_id = $6 AND ${prefix}_ciphertext = $7`,
          [row.id, again.ciphertext, again.nonce, again.tag, again.kekId, row.kek_id, row.ciphertext],
        );
        if (rowCount === 1) count.resealed += 1;
        else count.skipped += 1;
      }
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1]!.id;
    }
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table} WHERE ${prefix}_kek_id IS NOT NULL AND ${prefix}_kek_id <> $1`,
      [keys.currentId],
    );
    count.remaining = rows[0]?.n ?? 0;
    return count;
  }
}
