import { randomInt } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { batchedLookup } from "../common/batched-lookup.js";
import type { Clock } from "../common/clock.js";
import { storableText, type Database, type Queryable } from "../common/database.js";
import { eventOf, type OutboxEvent } from "../common/events.js";
import { withEvent } from "../common/outbox.js";
import type { EnvelopeFields } from "./psbc/envelope.js";
import type { RightsRequest } from "./psbc/rights-request.js";
import { KeyStatus, OrderStatus } from "./statuses.js";
import {
  OrderBookedSchema,
  OrderCancelledSchema,
  OrderCompletedSchema,
  OrderExpiredSchema,
  OrderVoucherRedeemedSchema,
} from "../../proto/gen/rights/events/v1/events_pb.js";

export const ORDER_SCHEMA = "orders";

export interface RightsOrder {
  orderNo: string;
  code: string;
  type: string;
  mac: string;
  /** The envelope the booking was begun (or restarted) with: what PSBC is sent, and the ledger reads. */
  channel: string;
  tranChnl: string;
  instType: string;
  provinceInstNo: string;
  backUrl: string;
  status: OrderStatus;
  keyStatus: KeyStatus;
  expireAt: Date;
  psbcBookedAt: Date | null;
  /** An upstream refused a booking step for good; the next appointment restarts with its own request. */
  bookingRefusedAt: Date | null;
  voucherNo: string | null;
  voucherUrl: string | null;
  voucherVoidedAt: Date | null;
  psbcCancelledAt: Date | null;
}

/** What an appointment brings besides the rights code: kept on the order and sent to the upstreams. */
export type BookingRequest = Omit<EnvelopeFields, "type"> & Pick<RightsRequest, "mac">;

export interface NewOrder extends BookingRequest {
  code: string;
  type: string;
  expireAt: Date;
}

interface OrderRow {
  order_no: string;
  code: string;
  type: string;
  mac: string;
  channel: string;
  tran_chnl: string;
  inst_type: string;
  province_inst_no: string;
  back_url: string;
  status: number;
  key_status: number;
  expire_at: Date;
  psbc_booked_at: Date | null;
  booking_refused_at: Date | null;
  voucher_no: string | null;
  voucher_url: string | null;
  voucher_voided_at: Date | null;
  psbc_cancelled_at: Date | null;
}

const COLUMNS = `order_no, code, type, mac, channel, tran_chnl, inst_type, province_inst_no, back_url, status, key_status, expire_at, psbc_booked_at,
  booking_refused_at, voucher_no, voucher_url, voucher_voided_at, psbc_cancelled_at`;

/**
 * Order numbers: yyyyMMddHHmmssSSS then 10 random digits (27 characters, within the contract's 32). Readable
 * by time for operators; the primary key catches the (negligible) chance of a collision.
 */
export function newOrderNo(now = new Date()): string {
  const stamp = now.toISOString().replace(/\D/g, "").slice(0, 17);
  return stamp + String(randomInt(0, 1e10)).padStart(10, "0");
}

/** A saga step found its order no longer in the state it expects: another request moved it meanwhile. */
export class OrderChanged extends Error {
  constructor(readonly orderNo: string) {
    super(`order ${orderNo} is no longer in the state this step expects`);
    this.name = "OrderChanged";
  }
}

/** What recording a redemption did: recorded now, recorded before, or the order is not in a state to take it. */
export type RedemptionOutcome = "recorded" | "already" | "not-booked-yet" | "closed";

/** An order the expiry job claimed. */
export interface ExpiringOrder {
  orderNo: string;
  code: string;
  type: string;
}

/**
 * Data access of rights orders. Each saga step is one UPDATE guarded by the state it expects. Business times
 * (booking, cancel, usage, completion, expiry) come from the clock, as parameters, never the database's now().
 */
export class OrderStore {
  /** Reads by rights code (every detail, expired-points and booking asks one), batched per event-loop turn. */
  private readonly byCode: (code: string) => Promise<OrderRow | undefined>;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {
    this.byCode = batchedLookup(
      async (codes) => (await this.db.query<OrderRow>(`SELECT ${COLUMNS} FROM orders.rights_order WHERE code = ANY($1::text[])`, [codes])).rows,
      (row) => row.code,
    );
  }

  async findByCode(code: string): Promise<RightsOrder | undefined> {
    const row = await this.byCode(code);
    return row && fromRow(row);
  }

  /**
   * Creates the order of a rights code, or returns the one that exists (the unique code decides), in one
   * statement; `created` says which.
   */
  async findOrCreate(order: NewOrder): Promise<{ order: RightsOrder; created: boolean }> {
    // The existing row is read by the same statement: its snapshot sees every order committed before it.
    const { rows } = await this.db.query<OrderRow & { created: boolean }>(
      `WITH inserted AS (
         INSERT INTO orders.rights_order
           (order_no, code, type, mac, channel, tran_chnl, inst_type, province_inst_no, back_url, expire_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (code) DO NOTHING
         RETURNING ${COLUMNS})
       SELECT ${COLUMNS}, true AS created FROM inserted
       UNION ALL
       SELECT ${COLUMNS}, false AS created FROM orders.rights_order WHERE code = $2 AND NOT EXISTS (SELECT 1 FROM inserted)`,
      [
        newOrderNo(this.clock.now()),
        order.code,
        order.type,
        order.mac,
        order.channel,
        order.tranChnl,
        order.instType,
        order.provinceInstNo,
        order.backUrl,
        order.expireAt,
      ],
    );
    if (rows[0]) return { order: fromRow(rows[0]), created: rows[0].created };
    // Inserted by a transaction that had not committed when this statement began: it has now.
    const existing = await this.findByCode(order.code);
    if (!existing) throw new Error(`order of a conflicting code vanished`);
    return { order: existing, created: false };
  }

  async recordPsbcBooking(orderNo: string, psbcOrderNo: string): Promise<RightsOrder> {
    return this.update(
      `psbc_order_no = $2, psbc_booked_at = now(), last_error = NULL`,
      `status = ${OrderStatus.NOT_BOOKED}`,
      [orderNo, psbcOrderNo],
    );
  }

  /** The booking's last step: voucher in hand, status 200, and the order.booked event, in one statement. */
  async completeBooking(order: RightsOrder, voucherNo: string, voucherUrl: string): Promise<RightsOrder> {
    const bookedAt = this.clock.now();
    return this.update(
      `status = ${OrderStatus.BOOKED}, key_status = ${KeyStatus.NORMAL}, voucher_no = $2, voucher_url = $3,
       booked_at = $4, last_error = NULL`,
      // A voucher a cancel voided meanwhile is no booking.
      `status = ${OrderStatus.NOT_BOOKED} AND voucher_voided_at IS NULL`,
      [order.orderNo, voucherNo, voucherUrl, bookedAt],
      eventOf(OrderBookedSchema, {
        orderNo: order.orderNo,
        code: order.code,
        type: order.type,
        voucherNo,
        bookedAt: timestampFromDate(bookedAt),
      }),
    );
  }

  async recordVoucherVoided(orderNo: string): Promise<RightsOrder> {
    return this.update(
      `key_status = ${KeyStatus.VOIDED}, voucher_voided_at = now(), last_error = NULL`,
      `status IN (${OrderStatus.NOT_BOOKED}, ${OrderStatus.BOOKED})`,
      [orderNo],
    );
  }

  async recordPsbcCancelled(orderNo: string): Promise<RightsOrder> {
    return this.update(
      `psbc_cancelled_at = now(), last_error = NULL`,
      `status IN (${OrderStatus.NOT_BOOKED}, ${OrderStatus.BOOKED})`,
      [orderNo],
    );
  }

  /** The cancel's last step: status 400 and the order.cancelled event, in one statement. */
  async completeCancel(order: RightsOrder): Promise<RightsOrder> {
    const cancelledAt = this.clock.now();
    return this.update(
      `status = ${OrderStatus.CANCELLED}, cancelled_at = $2, last_error = NULL`,
      `status IN (${OrderStatus.NOT_BOOKED}, ${OrderStatus.BOOKED})`,
      [order.orderNo, cancelledAt],
      eventOf(OrderCancelledSchema, { orderNo: order.orderNo, code: order.code, type: order.type, cancelledAt: timestampFromDate(cancelledAt) }),
    );
  }

  async markExpired(orderNo: string): Promise<void> {
    await this.db.query(
      `UPDATE orders.rights_order SET status = ${OrderStatus.EXPIRED}, updated_at = now()
        WHERE order_no = $1 AND status IN (${OrderStatus.NOT_BOOKED}, ${OrderStatus.BOOKED})`,
      [orderNo],
    );
  }

  /**
   * The order's voucher was redeemed at `usageTime`: key status 2 and order.voucher_redeemed (PSBC is to be told),
   * in one statement guarded by the key status, so the event is written once whoever learns of it first (the
   * voucher.redeemed consumer, or a cancel whose void found the voucher redeemed). Only a booked order (200)
   * takes it: one still booking (100) is not ready yet, one cancelled or expired is closed.
   */
  async recordVoucherRedeemed(orderNo: string, usageTime: Date, on: Queryable = this.db): Promise<RedemptionOutcome> {
    const { rows } = await on.query<{ code: string; type: string; psbc_order_no: string | null; status: number; key_status: number }>(
      `SELECT code, type, psbc_order_no, status, key_status FROM orders.rights_order WHERE order_no = $1`,
      [orderNo],
    );
    const order = rows[0];
    if (!order) throw new Error(`no order ${orderNo}`);
    if (order.key_status === KeyStatus.REDEEMED) return "already";
    if (order.status === OrderStatus.NOT_BOOKED) return "not-booked-yet";
    if (order.status !== OrderStatus.BOOKED) return "closed";
    const statement = withEvent(
      ORDER_SCHEMA,
      `UPDATE orders.rights_order SET key_status = ${KeyStatus.REDEEMED}, key_usage_time = $2, updated_at = now()
        WHERE order_no = $1 AND status = ${OrderStatus.BOOKED} AND key_status <> ${KeyStatus.REDEEMED} RETURNING order_no`,
      [orderNo, usageTime],
      eventOf(OrderVoucherRedeemedSchema, {
        orderNo,
        code: order.code,
        type: order.type,
        psbcOrderNo: order.psbc_order_no ?? "",
        usageTime: timestampFromDate(usageTime),
      }),
    );
    const { rowCount } = await on.query(statement.text, statement.params);
    return rowCount > 0 ? "recorded" : "already";
  }

  /**
   * PSBC acknowledged the service-complete notice at `completedAt`: 300 and order.completed (every column the
   * reconciliation ledger needs), once. False when the order is not a redeemed, booked one (completed before).
   */
  async complete(orderNo: string, completedAt: Date, on: Queryable): Promise<boolean> {
    const { rows } = await on.query<{
      code: string;
      type: string;
      status: number;
      key_status: number;
      booked_at: Date | null;
      province_inst_no: string;
      inst_type: string;
      service_name: string;
      provider_code: string;
    }>(
      `SELECT o.code, o.type, o.status, o.key_status, o.booked_at, o.province_inst_no, o.inst_type,
              t.name AS service_name, t.provider_code
         FROM orders.rights_order o JOIN orders.service_type t ON t.type = o.type
        WHERE o.order_no = $1`,
      [orderNo],
    );
    const order = rows[0];
    if (!order || order.status !== OrderStatus.BOOKED || order.key_status !== KeyStatus.REDEEMED) return false;
    const statement = withEvent(
      ORDER_SCHEMA,
      `UPDATE orders.rights_order SET status = ${OrderStatus.COMPLETED}, completed_at = $2, updated_at = now()
        WHERE order_no = $1 AND status = ${OrderStatus.BOOKED} AND key_status = ${KeyStatus.REDEEMED} RETURNING order_no`,
      [orderNo, completedAt],
      eventOf(OrderCompletedSchema, {
        orderNo,
        code: order.code,
        type: order.type,
        serviceName: order.service_name,
        providerCode: order.provider_code,
        provinceInstNo: order.province_inst_no,
        instType: order.inst_type,
        bookedAt: order.booked_at ? timestampFromDate(new Date(order.booked_at)) : undefined,
        completedAt: timestampFromDate(completedAt),
        keyStatus: KeyStatus.REDEEMED,
      }),
    );
    const { rowCount } = await on.query(statement.text, statement.params);
    return rowCount > 0;
  }

  /**
   * Claims up to `limit` orders due to expire (at the clock's now) for `leaseMs`: live orders whose voucher was
   * not redeemed, and orders a request marked expired whose voucher is still live. SKIP LOCKED and the lease keep
   * two replicas off the same order; a claim of a replica that died lapses and the order is taken again.
   */
  async claimDueExpiries(leaseMs: number, limit: number): Promise<ExpiringOrder[]> {
    const { rows } = await this.db.query<{ order_no: string; code: string; type: string }>(
      `UPDATE orders.rights_order SET expiry_claimed_until = $1::timestamptz + make_interval(secs => $2::double precision / 1000)
        WHERE order_no IN (
          SELECT order_no FROM orders.rights_order
           WHERE (status IN (${OrderStatus.NOT_BOOKED}, ${OrderStatus.BOOKED}) AND key_status <> ${KeyStatus.REDEEMED}
                  OR status = ${OrderStatus.EXPIRED} AND key_status IN (${KeyStatus.PENDING}, ${KeyStatus.NORMAL}))
             AND expire_at <= $1 AND (expiry_claimed_until IS NULL OR expiry_claimed_until <= $1)
           ORDER BY expire_at LIMIT $3 FOR UPDATE SKIP LOCKED)
        RETURNING order_no, code, type`,
      [this.clock.now(), leaseMs, limit],
    );
    return rows.map((row) => ({ orderNo: row.order_no, code: row.code, type: row.type }));
  }

  /** The expiry's last step, its voucher expired (or never issued): 500, key status 4, order.expired, once. */
  async completeExpiry(order: ExpiringOrder): Promise<boolean> {
    const expiredAt = this.clock.now();
    const statement = withEvent(
      ORDER_SCHEMA,
      `UPDATE orders.rights_order
          SET status = ${OrderStatus.EXPIRED}, key_status = ${KeyStatus.EXPIRED}, voucher_voided_at = COALESCE(voucher_voided_at, $2),
              expiry_claimed_until = NULL, last_error = NULL, updated_at = now()
        WHERE order_no = $1 AND status IN (${OrderStatus.NOT_BOOKED}, ${OrderStatus.BOOKED}, ${OrderStatus.EXPIRED})
          AND key_status NOT IN (${KeyStatus.REDEEMED}, ${KeyStatus.EXPIRED})
        RETURNING order_no`,
      [order.orderNo, expiredAt],
      eventOf(OrderExpiredSchema, { orderNo: order.orderNo, code: order.code, type: order.type, expiredAt: timestampFromDate(expiredAt) }),
    );
    const { rowCount } = await this.db.query(statement.text, statement.params);
    return rowCount > 0;
  }

  /**
   * Keeps why the last attempt stopped, for operators; the saga columns already say where it stopped. `refused`:
   * an upstream refused the booking for good, so the next appointment restarts it (`restartRefusedBooking`).
   */
  async recordFailure(orderNo: string, error: string, refused = false): Promise<void> {
    await this.db.query(
      `UPDATE orders.rights_order
          SET last_error = $2, booking_refused_at = CASE WHEN $3::boolean THEN now() ELSE booking_refused_at END, updated_at = now()
        WHERE order_no = $1`,
      [orderNo, storableText(error), refused],
    );
  }

  /**
   * A refused booking starts over with a new appointment's request: the steps done stay done (PSBC's booking
   * is idempotent by code), the step refused is tried again with the new request's `mac` (the refusal may have
   * been of it: a corrected one must not be refused again) and back URL. Its envelope fields replace the order's
   * only while PSBC has not booked: once it has, its booking stands under them, and the ledger reads them.
   */
  async restartRefusedBooking(orderNo: string, request: BookingRequest): Promise<RightsOrder> {
    const unlessBooked = (column: string, param: string) => `${column} = CASE WHEN psbc_booked_at IS NULL THEN ${param} ELSE ${column} END`;
    return this.update(
      `mac = $2, ${unlessBooked("channel", "$3")}, ${unlessBooked("tran_chnl", "$4")},
       ${unlessBooked("inst_type", "$5")}, ${unlessBooked("province_inst_no", "$6")}, back_url = $7,
       booking_refused_at = NULL`,
      `status = ${OrderStatus.NOT_BOOKED} AND booking_refused_at IS NOT NULL`,
      [orderNo, request.mac, request.channel, request.tranChnl, request.instType, request.provinceInstNo, request.backUrl],
    );
  }

  /** One guarded UPDATE of a saga step; with `event`, the event is written by the same statement. */
  private async update(set: string, expected: string, params: unknown[], event?: OutboxEvent): Promise<RightsOrder> {
    const change = `UPDATE orders.rights_order SET ${set}, updated_at = now()
        WHERE order_no = $1 AND ${expected}
        RETURNING ${COLUMNS}`;
    const statement = event ? withEvent(ORDER_SCHEMA, change, params, event) : { text: change, params };
    const { rows } = await this.db.query<OrderRow>(statement.text, statement.params);
    if (!rows[0]) throw new OrderChanged(String(params[0]));
    return fromRow(rows[0]);
  }
}

function fromRow(row: OrderRow): RightsOrder {
  return {
    orderNo: row.order_no,
    code: row.code,
    type: row.type,
    mac: row.mac,
    channel: row.channel,
    tranChnl: row.tran_chnl,
    instType: row.inst_type,
    provinceInstNo: row.province_inst_no,
    backUrl: row.back_url,
    status: row.status as OrderStatus,
    keyStatus: row.key_status as KeyStatus,
    expireAt: new Date(row.expire_at),
    psbcBookedAt: row.psbc_booked_at,
    bookingRefusedAt: row.booking_refused_at,
    voucherNo: row.voucher_no,
    voucherUrl: row.voucher_url,
    voucherVoidedAt: row.voucher_voided_at,
    psbcCancelledAt: row.psbc_cancelled_at,
  };
}
