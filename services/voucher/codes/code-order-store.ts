// Make-code orders and the codes they made (migration 005): one order per (sale channel, its order id), claimed
// by one caller at a time under a lease, so concurrent repeats make codes once and a caller that died mid-way
// leaves the order to the next repeat.
import { randomBytes } from "node:crypto";
import { storableText, type Database } from "../../common/database.js";
import type { SendChannelType } from "../catalogue/catalogue-store.js";
import type { MadeCode } from "../channels/send-channel.js";

export type CodeOrderStatus = "MAKING" | "MADE" | "FAILED";

export interface CodeOrderRecord {
  tradeNo: string;
  saleChannelId: string;
  saleChannelOrderId: string;
  requestHash: string;
  requestId: string;
  status: CodeOrderStatus;
  leaseUntil: Date | null;
  attempt: number;
  saleChannelItemId: string;
  templateId: string;
  activityId: string;
  sendChannelId: string;
  /** The send channel's kind, read with the order (a voucher records it; the channel's row is not read again); null if it is gone. */
  sendChannelType: SendChannelType | null;
  ticketName: string;
  activityName: string;
  codeNum: number;
  useTimes: number;
  validStart: Date;
  validEnd: Date;
  orderMobile: string | null;
  failure: string | null;
  createdAt: Date;
  updatedAt: Date;
  noticeRetries: number;
  codes: StoredCode[];
}

export interface StoredCode extends MadeCode {
  status: string;
}

/** The seed's code status of a code just made: 00 未使用 (made_code's default). */
const UNUSED = "00";

export type NewCodeOrder = Omit<CodeOrderRecord, "tradeNo" | "sendChannelType" | "status" | "leaseUntil" | "attempt" | "failure" | "codes" | "updatedAt" | "noticeRetries">;

interface OrderRow {
  trade_no: string;
  sale_channel_id: string;
  sale_channel_order_id: string;
  request_hash: string;
  request_id: string;
  status: CodeOrderStatus;
  lease_until: Date | null;
  attempt: number;
  sale_channel_item_id: string;
  template_id: string;
  activity_id: string;
  send_channel_id: string;
  send_channel_type: SendChannelType | null;
  ticket_name: string;
  activity_name: string;
  code_num: number;
  use_times: number;
  valid_start: Date;
  valid_end: Date;
  order_mobile: string | null;
  failure: string | null;
  created_at: Date;
  updated_at: Date;
  notice_retries: number;
}

const COLUMNS = `trade_no, sale_channel_id, sale_channel_order_id, request_hash, request_id, status, lease_until, attempt, sale_channel_item_id,
  template_id, activity_id, send_channel_id, ticket_name, activity_name, code_num, use_times, valid_start, valid_end, order_mobile,
  failure, created_at, updated_at, notice_retries,
  (SELECT channel_type FROM vouchers.send_channel s WHERE s.send_channel_id = code_order.send_channel_id::bigint) AS send_channel_type`;

/** WHALE's trade number: 32 hex characters like the seed's example, random so it names no other order. */
export function newTradeNo(): string {
  return randomBytes(16).toString("hex");
}

export class CodeOrderStore {
  constructor(private readonly db: Database) {}

  async find(saleChannelId: string, saleChannelOrderId: string): Promise<CodeOrderRecord | undefined> {
    const { rows } = await this.db.query<OrderRow>(
      `SELECT ${COLUMNS} FROM vouchers.code_order WHERE sale_channel_id = $1 AND sale_channel_order_id = $2`,
      [saleChannelId, saleChannelOrderId],
    );
    return rows[0] && this.withCodes(rows[0]);
  }

  async findByTradeNo(tradeNo: string): Promise<CodeOrderRecord | undefined> {
    const { rows } = await this.db.query<OrderRow>(`SELECT ${COLUMNS} FROM vouchers.code_order WHERE trade_no = $1`, [tradeNo]);
    return rows[0] && this.withCodes(rows[0]);
  }

  /**
   * The orders of a sale channel order id, whichever channel's (the ERP may ask by the id alone), at most
   * `limit`, the most recent first.
   */
  async findByOrderId(saleChannelOrderId: string, limit: number): Promise<CodeOrderRecord[]> {
    const { rows } = await this.db.query<OrderRow>(
      `SELECT ${COLUMNS} FROM vouchers.code_order WHERE sale_channel_order_id = $1 ORDER BY created_at DESC LIMIT $2`,
      [saleChannelOrderId, limit],
    );
    return Promise.all(rows.map((row) => this.withCodes(row)));
  }

  /**
   * One more ERP-asked re-send of the order's notice, while it has had fewer than `max`; answers the new count,
   * undefined when the re-sends are used up (concurrent asks never pass `max`). The new notice is not handed over
   * yet: until its hand-over marks it, the notice job hands it over.
   */
  async countNoticeRetry(tradeNo: string, max: number): Promise<number | undefined> {
    const { rows } = await this.db.query<{ notice_retries: number }>(
      `UPDATE vouchers.code_order SET notice_retries = notice_retries + 1, notice_queued_at = NULL, updated_at = now()
        WHERE trade_no = $1 AND notice_retries < $2 RETURNING notice_retries`,
      [tradeNo, max],
    );
    return rows[0]?.notice_retries;
  }

  /** A new order, MAKING under a lease of `leaseMs`; undefined when the (channel, order id) exists (someone else's claim). */
  async create(order: NewCodeOrder, leaseMs: number): Promise<CodeOrderRecord | undefined> {
    const { rows } = await this.db.query<OrderRow>(
      `INSERT INTO vouchers.code_order (trade_no, sale_channel_id, sale_channel_order_id, request_hash, request_id, status, lease_until,
         sale_channel_item_id, template_id, activity_id, send_channel_id, ticket_name, activity_name, code_num, use_times, valid_start,
         valid_end, order_mobile, created_at)
       VALUES ($1, $2, $3, $4, $5, 'MAKING', now() + make_interval(secs => $6::double precision / 1000), $7, $8, $9, $10, $11, $12, $13,
         $14, $15, $16, $17, $18)
       ON CONFLICT (sale_channel_id, sale_channel_order_id) DO NOTHING RETURNING ${COLUMNS}`,
      [
        newTradeNo(), order.saleChannelId, order.saleChannelOrderId, order.requestHash, order.requestId, leaseMs, order.saleChannelItemId,
        order.templateId, order.activityId, order.sendChannelId, order.ticketName, order.activityName, order.codeNum, order.useTimes,
        order.validStart, order.validEnd, order.orderMobile, order.createdAt,
      ],
    );
    return rows[0] && { ...fromRow(rows[0]), codes: [] };
  }

  /**
   * Claims an order to make its codes again: a FAILED one, or a MAKING one whose lease ran out (its caller died
   * or hung). Exactly one of concurrent claimers wins; undefined for the others.
   */
  async reclaim(tradeNo: string, leaseMs: number): Promise<CodeOrderRecord | undefined> {
    const { rows } = await this.db.query<OrderRow>(
      `UPDATE vouchers.code_order SET status = 'MAKING', lease_until = now() + make_interval(secs => $2::double precision / 1000),
              attempt = attempt + 1, failure = NULL, updated_at = now()
        WHERE trade_no = $1 AND (status = 'FAILED' OR (status = 'MAKING' AND lease_until < now())) RETURNING ${COLUMNS}`,
      [tradeNo, leaseMs],
    );
    return rows[0] && { ...fromRow(rows[0]), codes: [] };
  }

  /** The codes made, and MADE, in one transaction; a second record of the same order changes nothing. */
  async recordMade(order: CodeOrderRecord, codes: readonly MadeCode[]): Promise<CodeOrderRecord> {
    // One statement (atomic without a transaction of its own): the codes are stored only if MAKING → MADE
    // happened, and a code another order holds fails both. Whichever claim holds it: the channel answers one
    // trade number with the same codes, so a caller whose lease ran out records what the one holding it would.
    const { rows } = await this.db.query<OrderRow>(
      `WITH made AS (
         UPDATE vouchers.code_order SET status = 'MADE', lease_until = NULL, failure = NULL, updated_at = now()
          WHERE trade_no = $1 AND status = 'MAKING' RETURNING ${COLUMNS}
       ), stored AS (
         INSERT INTO vouchers.made_code (trade_no, seq, send_channel_id, code, url, channel_ref)
         SELECT made.trade_no, c.seq, $2, c.code, c.url, c.channel_ref
           FROM made, unnest($3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS c(code, url, channel_ref, seq)
       )
       SELECT * FROM made`,
      [order.tradeNo, order.sendChannelId, codes.map((c) => c.code), codes.map((c) => c.url), codes.map((c) => c.channelRef)],
    );
    // Nothing changed: another claim recorded the order first, and its codes are the order's; or it failed since.
    if (!rows[0]) return this.mustFind(order);
    return { ...fromRow(rows[0]), codes: codes.map((c) => ({ code: c.code, url: c.url, channelRef: c.channelRef, status: UNUSED })) };
  }

  /**
   * MAKING → FAILED with why (never a code: the message is the channel's error, which carries none), if this
   * claim (`order.attempt`) still holds the order: false when a repeat took it over after the lease ran out.
   */
  async recordFailed(order: CodeOrderRecord, failure: string): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE vouchers.code_order SET status = 'FAILED', lease_until = NULL, failure = $2, updated_at = now()
        WHERE trade_no = $1 AND status = 'MAKING' AND attempt = $3`,
      [order.tradeNo, storableText(failure), order.attempt],
    );
    return rowCount > 0;
  }

  private async mustFind(order: CodeOrderRecord): Promise<CodeOrderRecord> {
    const found = await this.find(order.saleChannelId, order.saleChannelOrderId);
    if (!found) throw new Error(`code order ${order.tradeNo} vanished`);
    return found;
  }

  private async withCodes(row: OrderRow): Promise<CodeOrderRecord> {
    const order = fromRow(row);
    if (order.status !== "MADE") return { ...order, codes: [] };
    const { rows } = await this.db.query<{ code: string; url: string; channel_ref: string; status: string }>(
      `SELECT code, url, channel_ref, status FROM vouchers.made_code WHERE trade_no = $1 ORDER BY seq`,
      [order.tradeNo],
    );
    return { ...order, codes: rows.map((r) => ({ code: r.code, url: r.url, channelRef: r.channel_ref, status: r.status })) };
  }
}

function fromRow(row: OrderRow): Omit<CodeOrderRecord, "codes"> {
  return {
    tradeNo: row.trade_no,
    saleChannelId: row.sale_channel_id,
    saleChannelOrderId: row.sale_channel_order_id,
    requestHash: row.request_hash,
    requestId: row.request_id,
    status: row.status,
    leaseUntil: row.lease_until,
    attempt: row.attempt,
    saleChannelItemId: row.sale_channel_item_id,
    templateId: row.template_id,
    activityId: row.activity_id,
    sendChannelId: row.send_channel_id,
    sendChannelType: row.send_channel_type,
    ticketName: row.ticket_name,
    activityName: row.activity_name,
    codeNum: row.code_num,
    useTimes: row.use_times,
    validStart: new Date(row.valid_start),
    validEnd: new Date(row.valid_end),
    orderMobile: row.order_mobile,
    failure: row.failure,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    noticeRetries: row.notice_retries,
  };
}
