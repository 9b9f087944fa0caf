// Where a bulk job's batch of codes goes: one port, two adapters. PostgreSQL takes a batch as one
// `COPY … FROM STDIN` (pg-copy-streams: no parameters to bind, no statement to plan, the fastest way in); PGlite
// has no COPY from a client stream, so there it is a few INSERTs of unnested arrays.
import type { Transaction } from "../../common/database.js";

export interface BulkCodeWriter {
  /**
   * Writes `codes` as seqs firstSeq, firstSeq+1, … of the internal channel's order `orderId`, in `tx`. A code
   * already taken fails the whole batch (the caller's transaction rolls back and it draws the batch again).
   */
  write(tx: Transaction, orderId: string, firstSeq: number, codes: readonly string[]): Promise<void>;
}

/** Rows per INSERT on PGlite: one statement each, well under its parameter limits. */
const INSERT_CHUNK = 5_000;

const COPY_SQL = `COPY vouchers.internal_code (code, send_channel_order_id, seq) FROM STDIN`;

/** COPY where the transaction can (PostgreSQL), batched INSERTs otherwise (PGlite). */
export const bulkCodeWriter: BulkCodeWriter = {
  async write(tx, orderId, firstSeq, codes) {
    if (tx.copyFrom) {
      // Codes are digits and the order id is ours ("bulk:" + hex): nothing in a line needs COPY's escaping.
      let text = "";
      for (let i = 0; i < codes.length; i += 1) text += `${codes[i]}\t${orderId}\t${firstSeq + i}\n`;
      await tx.copyFrom(COPY_SQL, text);
      return;
    }
    for (let at = 0; at < codes.length; at += INSERT_CHUNK) {
      const chunk = codes.slice(at, at + INSERT_CHUNK);
      await tx.query(
        `INSERT INTO vouchers.internal_code (code, send_channel_order_id, seq)
         SELECT code, $1, $2::int + ord::int - 1 FROM unnest($3::text[]) WITH ORDINALITY AS c(code, ord)`,
        [orderId, firstSeq + at, chunk],
      );
    }
  },
};

/** The internal channel's order id of a bulk job's codes. */
export const bulkOrderId = (jobId: string): string => `bulk:${jobId}`;
