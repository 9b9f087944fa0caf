import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampInstant } from "../common/clock.js";
import type { Database } from "../common/database.js";
import type { FindRedeemedUncompletedRequest, OrderView } from "../../proto/gen/rights/order/v1/order_pb.js";
import { ORDER_SCHEMA } from "./order-store.js";

interface OrderViewRow {
  order_no: string;
  code: string;
  type: string;
  status: number;
  key_status: number;
  voucher_no: string | null;
  psbc_order_no: string | null;
  created_at: Date;
  booked_at: Date | null;
  key_usage_time: Date | null;
  completed_at: Date | null;
  cancelled_at: Date | null;
  expire_at: Date;
  last_error: string | null;
  province_inst_no: string;
  inst_type: string;
}

const VIEW_COLUMNS = `order_no, code, type, status, key_status, voucher_no, psbc_order_no, created_at, booked_at,
  key_usage_time, completed_at, cancelled_at, expire_at, last_error, province_inst_no, inst_type`;

/** Orders as operators and the reconciliation service read them: no secrets (mac, URLs), every time. */
export class OrderViews {
  constructor(private readonly db: Database) {}

  async byCode(code: string): Promise<Omit<OrderView, "$typeName"> | undefined> {
    const { rows } = await this.db.query<OrderViewRow>(`SELECT ${VIEW_COLUMNS} FROM ${ORDER_SCHEMA}.rights_order WHERE code = $1`, [code]);
    return rows[0] && viewOf(rows[0]);
  }

  /** Booked (200) with a redeemed voucher (2): PSBC has not acknowledged its service-complete notice. */
  async redeemedUncompleted(query: Pick<FindRedeemedUncompletedRequest, "codes" | "usageStart" | "usageEnd" | "limit">) {
    const byCodes = query.codes.length > 0;
    const { rows } = await this.db.query<OrderViewRow>(
      `SELECT ${VIEW_COLUMNS} FROM ${ORDER_SCHEMA}.rights_order
        WHERE status = 200 AND key_status = 2
          AND ${byCodes ? "code = ANY($1::text[])" : "key_usage_time BETWEEN $1 AND $2"}
        ORDER BY key_usage_time, order_no
        LIMIT ${byCodes ? "$2" : "$3"}`,
      byCodes ? [query.codes, query.limit] : [dateOf(query.usageStart), dateOf(query.usageEnd), query.limit],
    );
    return rows.map(viewOf);
  }
}

function dateOf(timestamp: Timestamp | undefined): Date {
  return timestamp ? timestampInstant(timestamp) : new Date(0);
}

const optionalTimestamp = (date: Date | null): Timestamp | undefined => (date ? timestampFromDate(date) : undefined);

function viewOf(row: OrderViewRow): Omit<OrderView, "$typeName"> {
  return {
    orderNo: row.order_no,
    code: row.code,
    type: row.type,
    status: row.status,
    keyStatus: row.key_status,
    voucherNo: row.voucher_no ?? "",
    psbcOrderNo: row.psbc_order_no ?? "",
    createdAt: timestampFromDate(row.created_at),
    bookedAt: optionalTimestamp(row.booked_at),
    keyUsageTime: optionalTimestamp(row.key_usage_time),
    completedAt: optionalTimestamp(row.completed_at),
    cancelledAt: optionalTimestamp(row.cancelled_at),
    expireAt: timestampFromDate(row.expire_at),
    lastError: row.last_error ?? "",
    provinceInstNo: row.province_inst_no,
    instType: row.inst_type,
  };
}
