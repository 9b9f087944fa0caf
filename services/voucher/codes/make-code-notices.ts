import type { CallOptions, Client } from "@connectrpc/connect";
import { formatBusinessTime } from "../../common/clock.js";
import type { Database } from "../../common/database.js";
import type { Logger } from "../../common/logger.js";
import { NotifyService, TaskState, TaskType } from "../../../proto/gen/rights/notify/v1/notify_pb.js";
import { VoucherError, voucherError } from "../errors.js";
import { RECORD_ID } from "../catalogue/fields.js";
import type { CodeOrderRecord, CodeOrderStatus, CodeOrderStore } from "./code-order-store.js";

/** Which order a notice action names: the sale channel's order id, and the sale channel when the ERP gives it. */
export interface OrderOfNotice {
  saleChannelOrderId: string;
  /** "" or absent: by the order id alone. */
  saleChannelId?: string;
}

export interface MakeNoticeView {
  notifyId: string;
  order: CodeOrderRecord;
  notified: boolean;
  canVoid: boolean;
  returnCode: "00" | "99";
  status: string;
}

const STATUS_TEXT: Record<CodeOrderStatus, string> = { MAKING: "制码中", MADE: "制码成功", FAILED: "制码失败" };

/** The SMS payload's limit (notify's SmsNotice.message). */
const MESSAGE_MAX = 500;
/**
 * How many times the ERP may have an order's notice sent again (makeNotifyRetry): each is an SMS to the customer
 * that we pay for, and a back office that loops must not flood a number.
 */
export const MAX_NOTICE_RETRIES = 10;

/**
 * 制码通知: an order made with notifyType.mobilePhone gets one SMS task (type 2) at the notify service, to that
 * number only, its notice id the order's tradeNo (one waiting task per notice). Handed over right after the
 * codes are recorded; an order whose hand-over failed is handed over by the notice job (`queueDue`), so a
 * notify outage delays a notice and never loses it. The text holds the codes and is never logged.
 */
export class MakeCodeNotices {
  constructor(
    private readonly deps: {
      db: Database;
      notify: Client<typeof NotifyService>;
      orders: CodeOrderStore;
      callOptions: () => CallOptions;
      logger: Logger;
    },
  ) {}

  /** Hands one made order's latest notice over; logs (ids only) and leaves it to the job when notify fails. */
  async queue(order: CodeOrderRecord): Promise<void> {
    if (!order.orderMobile || order.status !== "MADE") return;
    const noticeId = noticeIdOf(order.tradeNo, order.noticeRetries);
    try {
      await this.deps.notify.createTasks(
        {
          tasks: [
            {
              type: TaskType.SMS,
              payload: {
                case: "sms",
                value: { noticeId, saleChannelOrderId: order.saleChannelOrderId, mobile: order.orderMobile, message: messageOf(order) },
              },
            },
          ],
        },
        this.deps.callOptions(),
      );
      await this.deps.db.query(`UPDATE vouchers.code_order SET notice_queued_at = now() WHERE trade_no = $1`, [order.tradeNo]);
    } catch (err) {
      this.deps.logger.warn({ tradeNo: order.tradeNo, err: err instanceof Error ? err.message : String(err) }, "make-code notice not handed to notify; the notice job retries");
    }
  }

  /** Whether any notice of the order (the first or a re-send) was delivered. */
  async delivered(order: CodeOrderRecord): Promise<boolean> {
    if (!order.orderMobile) return false;
    const ids = Array.from({ length: order.noticeRetries + 1 }, (_, n) => noticeIdOf(order.tradeNo, n));
    // One delivered task answers it: asking for all of them broke past notify's 1000 a call (1000 re-sends).
    const { tasks } = await this.deps.notify.listTasks({ type: TaskType.SMS, state: TaskState.DELIVERED, codes: ids, limit: 1 }, this.deps.callOptions());
    return tasks.length > 0;
  }

  /** makeNotifyQuery (or, `verify`, verifyNotifyQuery) of a sale channel's order. */
  async noticeOf(which: OrderOfNotice, verify: boolean): Promise<MakeNoticeView> {
    return this.view(await this.orderOf(which), verify);
  }

  /** makeNotifyRetry: the notice sent again, then answered as makeNotifyQuery. */
  async retryOf(which: OrderOfNotice): Promise<MakeNoticeView> {
    const order = await this.orderOf(which);
    const { saleChannelOrderId } = which;
    if (!order.orderMobile) throw voucherError(VoucherError.PARAMETER_INVALID, `saleChannelOrderId ${saleChannelOrderId}: the order asked for no SMS notice`);
    // An order still making its codes has no notice to send again yet: answered as it stands.
    if (order.status !== "MADE") return this.view(order, false);
    const noticeRetries = await this.deps.orders.countNoticeRetry(order.tradeNo, MAX_NOTICE_RETRIES);
    if (noticeRetries === undefined) {
      throw voucherError(VoucherError.PARAMETER_INVALID, `saleChannelOrderId ${saleChannelOrderId}: its notice was sent again ${MAX_NOTICE_RETRIES} times already, the most allowed`);
    }
    const retried = { ...order, noticeRetries };
    await this.queue(retried);
    return this.view(retried, false);
  }

  /**
   * The order the ERP names: by its sale channel when given, else by the id alone while only one sale channel
   * used it; never another channel's order picked by recency.
   */
  private async orderOf({ saleChannelId, saleChannelOrderId }: OrderOfNotice): Promise<CodeOrderRecord> {
    if (saleChannelId && !RECORD_ID.test(saleChannelId)) throw voucherError(VoucherError.PARAMETER_INVALID, "saleChannelId: must be a record id");
    const orders = saleChannelId
      ? [await this.deps.orders.find(saleChannelId, saleChannelOrderId)].filter((order) => order !== undefined)
      : await this.deps.orders.findByOrderId(saleChannelOrderId, 2);
    const [order] = orders;
    if (!order) throw voucherError(VoucherError.REFERENCE_INVALID, `saleChannelOrderId ${saleChannelOrderId}: no make-code order${saleChannelId ? ` of sale channel ${saleChannelId}` : ""}`);
    if (orders.length > 1) {
      throw voucherError(VoucherError.PARAMETER_INVALID, `saleChannelId: required, more than one sale channel made codes under saleChannelOrderId ${saleChannelOrderId}`);
    }
    return order;
  }

  private async view(order: CodeOrderRecord, verify: boolean): Promise<MakeNoticeView> {
    // Verify (redemption) notices start with redemption (part 2): none yet.
    const notified = verify ? false : await this.delivered(order);
    return {
      notifyId: verify || !order.orderMobile ? "" : noticeIdOf(order.tradeNo, order.noticeRetries),
      order,
      notified,
      canVoid: order.status === "MADE" && order.codes.every((code) => code.status === "00"),
      returnCode: order.status === "MADE" ? "00" : "99",
      status: STATUS_TEXT[order.status],
    };
  }

  /** The notice job: orders made at least `minAgeMs` ago whose notice was never handed over, oldest first. */
  async queueDue(read: (tradeNo: string) => Promise<CodeOrderRecord | undefined>, minAgeMs: number, limit: number): Promise<number> {
    const { rows } = await this.deps.db.query<{ trade_no: string }>(
      `SELECT trade_no FROM vouchers.code_order
        WHERE status = 'MADE' AND order_mobile IS NOT NULL AND notice_queued_at IS NULL
          AND created_at < now() - make_interval(secs => $1::double precision / 1000)
        ORDER BY created_at LIMIT $2`,
      [minAgeMs, limit],
    );
    for (const { trade_no } of rows) {
      const order = await read(trade_no);
      if (order) await this.queue(order);
    }
    return rows.length;
  }
}

/** Notice 0 is the order's tradeNo; the ERP's re-sends are `<tradeNo>.<n>` (a delivered notice is never re-queued under its id). */
export function noticeIdOf(tradeNo: string, n: number): string {
  return n === 0 ? tradeNo : `${tradeNo}.${n}`;
}

/** The SMS text: the codes while they fit in one message, then how many more there are. */
export function messageOf(order: Pick<CodeOrderRecord, "ticketName" | "validEnd" | "codes">): string {
  const until = formatBusinessTime(order.validEnd);
  const head = `【WHALE】您的${order.ticketName}券码：`;
  const tail = `，有效期至${until.slice(0, 4)}-${until.slice(4, 6)}-${until.slice(6, 8)}。`;
  const shown: string[] = [];
  for (const [i, { code }] of order.codes.entries()) {
    const more = order.codes.length - i - 1;
    const candidate = [...shown, code].join("、") + (more > 0 ? `等${order.codes.length}个` : "");
    if ((head + candidate + tail).length > MESSAGE_MAX) break;
    shown.push(code);
  }
  const rest = order.codes.length - shown.length;
  return head + shown.join("、") + (rest > 0 ? `等${order.codes.length}个` : "") + tail;
}
