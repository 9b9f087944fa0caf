// 批量补推: service-complete tasks (type 1) for orders whose voucher was redeemed but PSBC was never told, chosen
// by codes or by usage time range, at most 100; the notify service skips codes that already have a task waiting.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import { TaskState, TaskType, type NotifyService } from "../../proto/gen/rights/notify/v1/notify_pb.js";
import type { OrderService, OrderView } from "../../proto/gen/rights/order/v1/order_pb.js";
import type { BatchRepushRequest, BatchRepushResponseSchema } from "../../proto/gen/rights/reconciliation/v1/reconciliation_pb.js";
import { adminAuthorization } from "../common/admin-credential.js";
import { formatTimestamp, parseBusinessTime } from "../common/clock.js";
import { hasControlCharacter } from "../common/database.js";
import type { Logger } from "../common/logger.js";
import { reconciliationError, ReconciliationError } from "./errors.js";

/** The contract's limit on one re-push, by codes or by the orders a range matches. */
export const REPUSH_LIMIT = 100;

export interface RepushDeps {
  orders: Client<typeof OrderService>;
  notify: Client<typeof NotifyService>;
  adminToken: string;
  logger: Logger;
}

type RepushAnswer = MessageInitShape<typeof BatchRepushResponseSchema>;

/** The order selection a request asks for: codes xor a complete usage time range; anything else is refused. */
function selectionOf(req: BatchRepushRequest) {
  const byCodes = req.codes.length > 0;
  const byRange = req.startTime !== "" || req.endTime !== "";
  if (byCodes === byRange || (byRange && (req.startTime === "" || req.endTime === ""))) {
    throw reconciliationError(ReconciliationError.REPUSH_SELECTION_INVALID, "codes or a time range (start and end), not both");
  }
  if (byCodes) {
    if (req.codes.length > REPUSH_LIMIT) throw reconciliationError(ReconciliationError.REPUSH_TOO_MANY_CODES, `at most ${REPUSH_LIMIT} codes`);
    // No control character: PostgreSQL refuses a NUL in text, which would fail the order service's query.
    if (req.codes.some((code) => code.length === 0 || code.length > 32 || hasControlCharacter(code))) {
      throw reconciliationError(ReconciliationError.PARAMETER_INVALID, "a code has 1 to 32 characters, no control character");
    }
    return { codes: [...new Set(req.codes)] };
  }
  const start = parseBusinessTime(req.startTime);
  const end = parseBusinessTime(req.endTime);
  if (!start || !end || start > end) throw reconciliationError(ReconciliationError.PARAMETER_INVALID, "startTime and endTime are yyyyMMddHHmmss, start not after end");
  // The end names a whole second: a usage at 23:59:59.999 is listed as 235959 and is in a range ending there.
  return { usageStart: timestampFromDate(start), usageEnd: timestampFromDate(new Date(end.getTime() + 999)) };
}

export async function batchRepush(req: BatchRepushRequest, deps: RepushDeps): Promise<RepushAnswer> {
  const selection = selectionOf(req);
  // One more than accepted, to tell "too many" from "exactly the limit".
  const { orders } = await deps.orders.findRedeemedUncompleted({ ...selection, limit: REPUSH_LIMIT + 1 });
  if (orders.length > REPUSH_LIMIT) throw reconciliationError(ReconciliationError.REPUSH_TOO_MANY_ORDERS, `more than ${REPUSH_LIMIT} orders match`);
  if (req.dryRun) {
    const waiting = await waitingCodes(orders, deps);
    return {
      totalCount: orders.length,
      createdCount: 0,
      skippedCount: 0,
      orders: orders.map((order) => ({
        orderNo: order.orderNo,
        code: order.code,
        status: order.status,
        keyStatus: order.keyStatus,
        keyUsageTime: formatTimestamp(order.keyUsageTime) ?? "",
        hasTask: waiting.has(order.code),
      })),
    };
  }
  if (orders.length === 0) return { totalCount: 0, createdCount: 0, skippedCount: 0 };
  const { outcomes } = await deps.notify.createTasks(
    {
      tasks: orders.map((order) => ({
        type: TaskType.SERVICE_COMPLETE,
        payload: {
          case: "serviceComplete",
          value: { orderNo: order.orderNo, code: order.code, type: order.type, psbcOrderNo: order.psbcOrderNo, usageTime: order.keyUsageTime },
        },
      })),
    },
    { headers: adminAuthorization(deps.adminToken) },
  );
  const createdCount = outcomes.filter((outcome) => outcome.created).length;
  deps.logger.info({ total: orders.length, created: createdCount }, "batch re-push");
  return { totalCount: orders.length, createdCount, skippedCount: orders.length - createdCount };
}

/** The codes among `orders` with a service-complete task waiting (pending). */
async function waitingCodes(orders: OrderView[], deps: RepushDeps): Promise<Set<string>> {
  if (orders.length === 0) return new Set();
  const { tasks } = await deps.notify.listTasks({
    state: TaskState.PENDING,
    type: TaskType.SERVICE_COMPLETE,
    codes: orders.map((order) => order.code),
    limit: 1000,
  });
  return new Set(tasks.map((task) => task.code));
}
