import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Database } from "../common/database.js";
import { eventOf } from "../common/events.js";
import { withEvent } from "../common/outbox.js";
import { KeyStatus } from "./key-status.js";
import { VoucherIssuedSchema, VoucherVoidedSchema } from "../../proto/gen/rights/events/v1/events_pb.js";

export const VOUCHER_SCHEMA = "vouchers";

export interface VoucherRecord {
  orderNo: string;
  sendChannel: string;
  templateId: string;
  rightsCode: string;
  voucherNo: string | null;
  url: string | null;
  keyStatus: KeyStatus;
}

interface VoucherRow {
  order_no: string;
  send_channel: string;
  template_id: string;
  rights_code: string;
  voucher_no: string | null;
  url: string | null;
  key_status: number;
}

const COLUMNS = "order_no, send_channel, template_id, rights_code, voucher_no, url, key_status";

export class VoucherStore {
  constructor(private readonly db: Database) {}

  async find(orderNo: string): Promise<VoucherRecord | undefined> {
    const { rows } = await this.db.query<VoucherRow>(`SELECT ${COLUMNS} FROM vouchers.voucher WHERE order_no = $1`, [orderNo]);
    return rows[0] && fromRow(rows[0]);
  }

  /** The pending voucher of an order, created on first sight; a retry finds the same row. */
  async findOrCreatePending(voucher: Pick<VoucherRecord, "orderNo" | "sendChannel" | "templateId" | "rightsCode">): Promise<VoucherRecord> {
    const { rows } = await this.db.query<VoucherRow>(
      `INSERT INTO vouchers.voucher (order_no, send_channel, template_id, rights_code) VALUES ($1, $2, $3, $4)
       ON CONFLICT (order_no) DO NOTHING RETURNING ${COLUMNS}`,
      [voucher.orderNo, voucher.sendChannel, voucher.templateId, voucher.rightsCode],
    );
    if (rows[0]) return fromRow(rows[0]);
    const existing = await this.find(voucher.orderNo);
    if (!existing) throw new Error("voucher of a conflicting order vanished");
    return existing;
  }

  /** Pending → normal with its code and URL, and voucher.issued, once even if two issuers race. */
  async recordIssued(voucher: VoucherRecord, voucherNo: string, url: string): Promise<VoucherRecord> {
    const statement = withEvent(
      VOUCHER_SCHEMA,
      `UPDATE vouchers.voucher SET voucher_no = $2, url = $3, key_status = ${KeyStatus.NORMAL}, issued_at = now(),
              last_error = NULL, updated_at = now()
        WHERE order_no = $1 AND key_status = ${KeyStatus.PENDING} RETURNING ${COLUMNS}`,
      [voucher.orderNo, voucherNo, url],
      eventOf(VoucherIssuedSchema, { orderNo: voucher.orderNo, voucherNo, sendChannel: voucher.sendChannel, issuedAt: timestampFromDate(new Date()) }),
    );
    const { rows } = await this.db.query<VoucherRow>(statement.text, statement.params);
    return rows[0] ? fromRow(rows[0]) : this.mustFind(voucher.orderNo);
  }

  /** Pending or normal → voided, and voucher.voided, once. */
  async recordVoided(voucher: VoucherRecord): Promise<VoucherRecord> {
    const statement = withEvent(
      VOUCHER_SCHEMA,
      `UPDATE vouchers.voucher SET key_status = ${KeyStatus.VOIDED}, voided_at = now(), last_error = NULL, updated_at = now()
        WHERE order_no = $1 AND key_status IN (${KeyStatus.PENDING}, ${KeyStatus.NORMAL}) RETURNING ${COLUMNS}`,
      [voucher.orderNo],
      eventOf(VoucherVoidedSchema, {
        orderNo: voucher.orderNo,
        voucherNo: voucher.voucherNo ?? "",
        sendChannel: voucher.sendChannel,
        voidedAt: timestampFromDate(new Date()),
      }),
    );
    const { rows } = await this.db.query<VoucherRow>(statement.text, statement.params);
    return rows[0] ? fromRow(rows[0]) : this.mustFind(voucher.orderNo);
  }

  async recordRedeemed(orderNo: string): Promise<void> {
    await this.db.query(
      `UPDATE vouchers.voucher SET key_status = ${KeyStatus.REDEEMED}, redeemed_at = COALESCE(redeemed_at, now()), updated_at = now()
        WHERE order_no = $1 AND key_status <> ${KeyStatus.REDEEMED}`,
      [orderNo],
    );
  }

  async recordFailure(orderNo: string, error: string): Promise<void> {
    await this.db.query(`UPDATE vouchers.voucher SET last_error = $2, updated_at = now() WHERE order_no = $1`, [orderNo, error.slice(0, 500)]);
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
  };
}
