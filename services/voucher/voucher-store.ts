import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { storableText, type Database, type Queryable } from "../common/database.js";
import { eventOf } from "../common/events.js";
import { withEvent } from "../common/outbox.js";
import { VoucherError, voucherError } from "./errors.js";
import { KeyStatus } from "./key-status.js";
import {
  VoucherExpiredSchema,
  VoucherIssuedSchema,
  VoucherRedeemedSchema,
  VoucherVoidedSchema,
} from "../../proto/gen/rights/events/v1/events_pb.js";

export const VOUCHER_SCHEMA = "vouchers";

export interface VoucherRecord {
  orderNo: string;
  /** The adapter that made the code (BLUE_BROTHERS), which redemption notices name; "" until made (migration 007). */
  sendChannel: string;
  templateId: string;
  rightsCode: string;
  voucherNo: string | null;
  url: string | null;
  keyStatus: KeyStatus;
  /** The make-code order of the PSBC sale channel; null for a voucher made before migration 007. */
  tradeNo: string | null;
  /** The catalogue send channel that made the code; null before migration 007. */
  sendChannelId: string | null;
  /** The channel's reference of the code for void and query; the order number for a voucher made before 007. */
  channelRef: string;
  createdAt: Date;
}

/** The code made for a voucher, as its code order recorded it. */
export interface IssuedCode {
  tradeNo: string;
  sendChannelId: string;
  sendChannel: string;
  code: string;
  url: string;
  channelRef: string;
}

interface VoucherRow {
  order_no: string;
  send_channel: string;
  template_id: string;
  rights_code: string;
  voucher_no: string | null;
  url: string | null;
  key_status: number;
  trade_no: string | null;
  send_channel_id: string | null;
  channel_ref: string;
  created_at: Date;
}

// A voucher made before migration 007 was made under our order number: that is its channel reference.
const COLUMNS = "order_no, send_channel, template_id, rights_code, voucher_no, url, key_status, trade_no, send_channel_id, COALESCE(channel_ref, order_no) AS channel_ref, created_at";

export class VoucherStore {
  constructor(private readonly db: Database) {}

  async find(orderNo: string): Promise<VoucherRecord | undefined> {
    const { rows } = await this.db.query<VoucherRow>(`SELECT ${COLUMNS} FROM vouchers.voucher WHERE order_no = $1`, [orderNo]);
    return rows[0] && fromRow(rows[0]);
  }

  /**
   * The pending voucher of an order, created on first sight (`created`; its send channel known once made); a retry
   * finds the same row.
   */
  async findOrCreatePending(
    voucher: Pick<VoucherRecord, "orderNo" | "templateId" | "rightsCode" | "createdAt">,
  ): Promise<{ voucher: VoucherRecord; created: boolean }> {
    const { rows } = await this.db.query<VoucherRow>(
      `INSERT INTO vouchers.voucher (order_no, send_channel, template_id, rights_code, created_at) VALUES ($1, '', $2, $3, $4)
       ON CONFLICT (order_no) DO NOTHING RETURNING ${COLUMNS}`,
      [voucher.orderNo, voucher.templateId, voucher.rightsCode, voucher.createdAt],
    );
    if (rows[0]) return { voucher: fromRow(rows[0]), created: true };
    const existing = await this.find(voucher.orderNo);
    if (!existing) throw new Error("voucher of a conflicting order vanished");
    return { voucher: existing, created: false };
  }

  /** Pending → normal with its code order's code and its first status poll, and voucher.issued, once even if two issuers race. */
  async recordIssued(voucher: VoucherRecord, made: IssuedCode, issuedAt: Date, firstPollAt: Date): Promise<VoucherRecord> {
    const statement = withEvent(
      VOUCHER_SCHEMA,
      `UPDATE vouchers.voucher SET voucher_no = $2, url = $3, key_status = ${KeyStatus.NORMAL}, issued_at = $4, trade_no = $5,
              send_channel_id = $6, send_channel = $7, channel_ref = $8, next_poll_at = $9, last_error = NULL, updated_at = now()
        WHERE order_no = $1 AND key_status = ${KeyStatus.PENDING} RETURNING ${COLUMNS}`,
      [voucher.orderNo, made.code, made.url, issuedAt, made.tradeNo, made.sendChannelId, made.sendChannel, made.channelRef, firstPollAt],
      eventOf(VoucherIssuedSchema, { orderNo: voucher.orderNo, voucherNo: made.code, sendChannel: made.sendChannel, issuedAt: timestampFromDate(issuedAt) }),
    );
    const { rows } = await this.db.query<VoucherRow>(statement.text, statement.params);
    return rows[0] ? fromRow(rows[0]) : this.mustFind(voucher.orderNo);
  }

  /** Pending or normal → voided, and voucher.voided, once. */
  async recordVoided(voucher: VoucherRecord, voidedAt: Date): Promise<VoucherRecord> {
    const statement = withEvent(
      VOUCHER_SCHEMA,
      `UPDATE vouchers.voucher SET key_status = ${KeyStatus.VOIDED}, voided_at = $2, last_error = NULL, updated_at = now()
        WHERE order_no = $1 AND key_status IN (${KeyStatus.PENDING}, ${KeyStatus.NORMAL}) RETURNING ${COLUMNS}`,
      [voucher.orderNo, voidedAt],
      eventOf(VoucherVoidedSchema, {
        orderNo: voucher.orderNo,
        voucherNo: voucher.voucherNo ?? "",
        sendChannel: voucher.sendChannel,
        voidedAt: timestampFromDate(voidedAt),
      }),
    );
    const { rows } = await this.db.query<VoucherRow>(statement.text, statement.params);
    return rows[0] ? fromRow(rows[0]) : this.mustFind(voucher.orderNo);
  }

  /** Voided at the channel (or never issued) as its order expired → expired (4), and voucher.expired, once. */
  async recordExpired(voucher: VoucherRecord, expiredAt: Date): Promise<VoucherRecord> {
    const statement = withEvent(
      VOUCHER_SCHEMA,
      `UPDATE vouchers.voucher SET key_status = ${KeyStatus.EXPIRED}, expired_at = $2, last_error = NULL, updated_at = now()
        WHERE order_no = $1 AND key_status IN (${KeyStatus.PENDING}, ${KeyStatus.NORMAL}, ${KeyStatus.VOIDED}) RETURNING ${COLUMNS}`,
      [voucher.orderNo, expiredAt],
      eventOf(VoucherExpiredSchema, {
        orderNo: voucher.orderNo,
        voucherNo: voucher.voucherNo ?? "",
        sendChannel: voucher.sendChannel,
        expiredAt: timestampFromDate(expiredAt),
      }),
    );
    const { rows } = await this.db.query<VoucherRow>(statement.text, statement.params);
    return rows[0] ? fromRow(rows[0]) : this.mustFind(voucher.orderNo);
  }

  /**
   * Issued → redeemed (2) at `redeemedAt` (the channel's time), and voucher.redeemed, in one statement; false
   * when it was not in a state to redeem (already redeemed: a repeat changes nothing).
   */
  async recordRedeemed(voucher: VoucherRecord, redeemedAt: Date, noticeId: string | null, on: Queryable = this.db): Promise<boolean> {
    const statement = withEvent(
      VOUCHER_SCHEMA,
      `UPDATE vouchers.voucher SET key_status = ${KeyStatus.REDEEMED}, redeemed_at = $2, redemption_notice_id = $3, updated_at = now()
        WHERE order_no = $1 AND key_status IN (${KeyStatus.PENDING}, ${KeyStatus.NORMAL}) RETURNING order_no`,
      [voucher.orderNo, redeemedAt, noticeId],
      eventOf(VoucherRedeemedSchema, {
        orderNo: voucher.orderNo,
        voucherNo: voucher.voucherNo ?? "",
        sendChannel: voucher.sendChannel,
        redeemedAt: timestampFromDate(redeemedAt),
      }),
    );
    const { rowCount } = await on.query(statement.text, statement.params);
    return rowCount > 0;
  }

  /**
   * A send channel's redemption notice, in one transaction: its nonce recorded (seen before: a replay, refused),
   * the voucher found by its number (unknown: refused, the nonce rolled back with everything else), then redeemed
   * unless it already was. Answers the voucher and whether it was already redeemed.
   */
  async recordRedemptionNotice(notice: {
    sendChannel: string;
    voucherNo: string;
    redeemedAt: Date;
    noticeId: string;
    nonce: string;
  }): Promise<{ voucher: VoucherRecord; alreadyRedeemed: boolean }> {
    return this.db.transaction(async (tx) => {
      const seen = await tx.query(
        `INSERT INTO vouchers.notice_nonce (send_channel, nonce, seen_at) VALUES ($1, $2, now()) ON CONFLICT DO NOTHING`,
        [notice.sendChannel, notice.nonce],
      );
      if (seen.rowCount === 0) throw voucherError(VoucherError.NOTICE_REPLAYED, "notice nonce seen before");
      const { rows } = await tx.query<VoucherRow>(
        `SELECT ${COLUMNS} FROM vouchers.voucher WHERE send_channel = $1 AND voucher_no = $2 FOR UPDATE`,
        [notice.sendChannel, notice.voucherNo],
      );
      if (!rows[0]) throw voucherError(VoucherError.NOT_FOUND, `no voucher ${notice.voucherNo}`);
      const voucher = fromRow(rows[0]);
      const redeemed = await this.recordRedeemed(voucher, notice.redeemedAt, notice.noticeId, tx);
      return redeemed ? { voucher: { ...voucher, keyStatus: KeyStatus.REDEEMED }, alreadyRedeemed: false } : { voucher, alreadyRedeemed: true };
    });
  }

  /**
   * Claims up to `limit` issued, unredeemed vouchers whose poll is due (NULL: issued before the first poll was
   * set at issue, due now), pushing their next poll `intervalMs` on:
   * a replica that claimed them and died leaves them to be polled again then, and two replicas never claim the
   * same voucher at once (SKIP LOCKED).
   */
  async claimDuePolls(now: Date, intervalMs: number, limit: number): Promise<VoucherRecord[]> {
    const { rows } = await this.db.query<VoucherRow>(
      `UPDATE vouchers.voucher SET next_poll_at = $1::timestamptz + make_interval(secs => $2::double precision / 1000)
        WHERE order_no IN (
          SELECT order_no FROM vouchers.voucher
           WHERE key_status = ${KeyStatus.NORMAL} AND (next_poll_at IS NULL OR next_poll_at <= $1)
           ORDER BY next_poll_at NULLS FIRST LIMIT $3 FOR UPDATE SKIP LOCKED)
        RETURNING ${COLUMNS}`,
      [now, intervalMs, limit],
    );
    return rows.map(fromRow);
  }

  /** Nonces older than the signature's skew window can never be replayed (their timestamps are refused). */
  async pruneNonces(olderThanMs: number): Promise<void> {
    await this.db.query(`DELETE FROM vouchers.notice_nonce WHERE seen_at < now() - make_interval(secs => $1::double precision / 1000)`, [olderThanMs]);
  }

  async recordFailure(orderNo: string, error: string): Promise<void> {
    await this.db.query(`UPDATE vouchers.voucher SET last_error = $2, updated_at = now() WHERE order_no = $1`, [orderNo, storableText(error)]);
  }

  private async mustFind(orderNo: string): Promise<VoucherRecord> {
    const found = await this.find(orderNo);
    if (!found) throw new Error(`voucher of order ${orderNo} vanished`);
    return found;
  }
}

function fromRow(row: VoucherRow): VoucherRecord {
  return {
    orderNo: row.order_no,
    sendChannel: row.send_channel,
    templateId: row.template_id,
    rightsCode: row.rights_code,
    voucherNo: row.voucher_no,
    url: row.url,
    keyStatus: row.key_status as KeyStatus,
    tradeNo: row.trade_no,
    sendChannelId: row.send_channel_id,
    channelRef: row.channel_ref,
    createdAt: new Date(row.created_at),
  };
}
