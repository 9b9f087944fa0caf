import type { Client } from "@connectrpc/connect";
import { reasonOf } from "../common/errors.js";
import type { LockService } from "../common/lock.js";
import type { Logger } from "../common/logger.js";
import { VoucherError, VoucherErrorSchema } from "../../proto/gen/rights/voucher/v1/errors_pb.js";
import type { VoucherService } from "../../proto/gen/rights/voucher/v1/voucher_pb.js";
import { acquireCodeLease } from "./bookings.js";
import type { ExpiringOrder, OrderStore } from "./order-store.js";

export interface ExpiryDeps {
  orders: OrderStore;
  vouchers: Client<typeof VoucherService>;
  lock: LockService;
  logger: Logger;
  eventsWritten(): void;
  /** How long a claim keeps other replicas off an order: longer than one order's voucher call. */
  claimMs: number;
}

/**
 * One round of expiry: claims a small batch of due orders, and for each expires its voucher (voided at the send
 * channel, key status 4), then the order (500, order.expired). Each step is idempotent, so an order whose round
 * stopped half-way (a replica died) is finished by whoever claims it next. A voucher redeemed before the void
 * reached its channel keeps its order alive: the voucher service records the redemption instead. Answers how
 * many orders it claimed.
 */
export async function expireDueOrders(deps: ExpiryDeps, batchSize: number): Promise<number> {
  const due = await deps.orders.claimDueExpiries(deps.claimMs, batchSize);
  for (const order of due) {
    // A booking in flight holds the code's lease: expired under it, the voucher it is issuing would outlive the
    // closed order (its completion refused). It is let finish; the booked order is taken again with its voucher.
    const lease = await acquireCodeLease(deps.lock, order.code, 0);
    if (!lease) {
      deps.logger.info({ orderNo: order.orderNo }, "expiry deferred: a request holds the rights code; the order is taken again when its claim lapses");
      continue;
    }
    try {
      await expireOrder(deps, order);
    } finally {
      await lease.release();
    }
  }
  return due.length;
}

async function expireOrder(deps: ExpiryDeps, order: ExpiringOrder): Promise<void> {
  try {
    await deps.vouchers.expireVoucher({ orderNo: order.orderNo });
  } catch (err) {
    const reason = reasonOf(err, VoucherErrorSchema);
    if (reason === VoucherError.REDEEMED) {
      deps.logger.info({ orderNo: order.orderNo }, "expiry skipped: the voucher was redeemed first");
      return;
    }
    // No voucher was ever issued (a booking that stopped before it): nothing to void.
    if (reason !== VoucherError.NOT_FOUND) {
      deps.logger.warn({ orderNo: order.orderNo, err }, "voucher expiry failed; the order is taken again when its claim lapses");
      return;
    }
  }
  if (await deps.orders.completeExpiry(order)) {
    deps.eventsWritten();
    deps.logger.info({ orderNo: order.orderNo }, "order expired");
  }
}
