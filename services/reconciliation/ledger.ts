// The ledger of completed orders: one row per order, whatever the number of order.completed deliveries.
import { OrderCompletedSchema } from "../../proto/gen/rights/events/v1/events_pb.js";
import { businessMonth, formatBusinessTime, formatTimestamp, timestampInstant } from "../common/clock.js";
import { on, type Consumer } from "../common/consumer.js";
import type { Logger } from "../common/logger.js";

export const RECONCILIATION_SCHEMA = "reconciliation";

/**
 * Adds each completed order to the ledger under the business month of its completion. The processed event
 * makes a redelivery a no-op; the order number's key makes a second event for the same order (a re-publish
 * under another id) one too.
 */
export function ledgerConsumer(logger: Logger): Consumer {
  return {
    durable: "reconciliation-order-completed",
    handlers: [
      on(OrderCompletedSchema, async (event, tx) => {
        if (!event.completedAt) {
          logger.error({ orderNo: event.orderNo }, "order.completed without a completion time; not in the ledger");
          return;
        }
        const completed = timestampInstant(event.completedAt);
        await tx.query(
          `INSERT INTO reconciliation.ledger
             (order_no, provider_code, month, province_inst_no, inst_type, type, service_name, booked_time, completed_time, code, key_status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (order_no) DO NOTHING`,
          [
            event.orderNo,
            event.providerCode,
            businessMonth(completed),
            event.provinceInstNo,
            event.instType,
            event.type,
            event.serviceName,
            formatTimestamp(event.bookedAt) ?? "",
            formatBusinessTime(completed),
            event.code,
            event.keyStatus,
          ],
        );
      }),
    ],
  };
}
