// The order service's event consumers: the redemption chain's steps that belong to the order.
import { timestampInstant } from "../common/clock.js";
import { on, type Consumer } from "../common/consumer.js";
import type { Logger } from "../common/logger.js";
import { NotificationDeliveredSchema, VoucherRedeemedSchema } from "../../proto/gen/rights/events/v1/events_pb.js";
import type { OrderStore } from "./order-store.js";

/** Task type 1 of the notify service: the service-complete notice to PSBC. */
export const SERVICE_COMPLETE_TASK = 1;

/**
 * - voucher.redeemed → key status 2, usage time (the channel's redemption time), order.voucher_redeemed; an order
 *   still booking is retried later (the bus redelivers with backoff), one cancelled or expired is logged.
 * - notify.delivered of a service-complete task → 300 with the delivery time, order.completed, once.
 * Each in one transaction with its processed-event record, so a redelivery or re-publish changes nothing.
 */
export function orderConsumers(orders: OrderStore, logger: Logger): Consumer[] {
  return [
    {
      durable: "order-voucher-redeemed",
      handlers: [
        on(VoucherRedeemedSchema, async (event, tx) => {
          if (!event.redeemedAt) throw new Error("voucher.redeemed without redeemed_at");
          const outcome = await orders.recordVoucherRedeemed(event.orderNo, timestampInstant(event.redeemedAt), tx);
          if (outcome === "not-booked-yet") throw new Error(`order ${event.orderNo} is still booking; its redemption waits`);
          if (outcome === "closed") logger.warn({ orderNo: event.orderNo }, "voucher redeemed for an order cancelled or expired; not recorded");
          else if (outcome === "recorded") logger.info({ orderNo: event.orderNo }, "order voucher redeemed");
        }),
      ],
    },
    {
      durable: "order-notification-delivered",
      handlers: [
        on(NotificationDeliveredSchema, async (event, tx) => {
          if (event.taskType !== SERVICE_COMPLETE_TASK) return;
          if (!event.deliveredAt) throw new Error("notify.delivered without delivered_at");
          if (await orders.complete(event.orderNo, timestampInstant(event.deliveredAt), tx)) {
            logger.info({ orderNo: event.orderNo }, "order completed");
          } else {
            logger.debug({ orderNo: event.orderNo }, "service-complete delivery for an order not awaiting it; nothing to do");
          }
        }),
      ],
    },
  ];
}
