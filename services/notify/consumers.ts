import type { Clock } from "../common/clock.js";
import { on, type Consumer } from "../common/consumer.js";
import type { Logger } from "../common/logger.js";
import { OrderVoucherRedeemedSchema } from "../../proto/gen/rights/events/v1/events_pb.js";
import { TaskType } from "../../proto/gen/rights/notify/v1/notify_pb.js";
import { serviceCompletePayload } from "./ports.js";
import type { TaskStore } from "./task-store.js";

/**
 * A redeemed voucher's order → a service-complete task (type 1), written in the transaction that records the
 * event as processed: a redelivered event creates nothing, and a second event for a code (the same redemption
 * re-published under a new id) neither while its task waits (the waiting task tells PSBC the same) or once it
 * was delivered (PSBC was told).
 */
export function notifyConsumers(deps: { tasks: TaskStore; clock: Clock; logger: Logger; taskCreated(): void }): Consumer[] {
  return [
    {
      durable: "notify-order-voucher-redeemed",
      handlers: [
        on(OrderVoucherRedeemedSchema, async (event, tx, delivery) => {
          if (!event.usageTime) {
            // Only a publisher's bug leaves it out; a task without it would be refused by PSBC on every attempt.
            deps.logger.error({ eventId: delivery.id, orderNo: event.orderNo }, "order.voucher_redeemed without a usage time; no task");
            return;
          }
          const payload = serviceCompletePayload({ ...event, usageTime: event.usageTime });
          const taskId = await deps.tasks.createUnlessDelivered(
            { type: TaskType.SERVICE_COMPLETE, orderNo: event.orderNo, code: event.code, payload },
            deps.clock.now(),
            tx,
          );
          deps.logger.info({ eventId: delivery.id, orderNo: event.orderNo, taskId, created: taskId !== undefined }, "service-complete task for a redeemed voucher");
          // A kick may come before the commit: the worker then finds the task at its next poll.
          if (taskId) deps.taskCreated();
        }),
      ],
    },
  ];
}
