import type { CallOptions, Client } from "@connectrpc/connect";
import { formatBusinessTime } from "../../common/clock.js";
import type { Database } from "../../common/database.js";
import type { Logger } from "../../common/logger.js";
import { NotifyService, TaskType } from "../../../proto/gen/rights/notify/v1/notify_pb.js";
import type { CodeOrderRecord } from "./code-order-store.js";

/** The SMS payload's limit (notify's SmsNotice.message). */
const MESSAGE_MAX = 500;

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
      callOptions: () => CallOptions;
      logger: Logger;
    },
  ) {}

  /** Hands one made order's notice over; logs (ids only) and leaves it to the job when notify fails. */
  async queue(order: CodeOrderRecord): Promise<void> {
    if (!order.orderMobile || order.status !== "MADE") return;
    try {
      await this.deps.notify.createTasks(
        {
          tasks: [
            {
              type: TaskType.SMS,
              payload: {
                case: "sms",
                value: { noticeId: order.tradeNo, saleChannelOrderId: order.saleChannelOrderId, mobile: order.orderMobile, message: messageOf(order) },
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
