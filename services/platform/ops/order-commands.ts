import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { formatBusinessTime } from "../../common/clock.js";
import { OrderService } from "../../../proto/gen/rights/order/v1/order_pb.js";
import { UsageError, type OpsCommand } from "./command.js";

const businessTime = (timestamp: Timestamp | undefined): string | undefined => (timestamp ? formatBusinessTime(timestampDate(timestamp)) : undefined);

/** `order <code>`: an order as the operator needs it, times in business time (yyyyMMddHHmmss, Asia/Shanghai). */
export const orderCommands: OpsCommand[] = [
  {
    words: ["order"],
    usage: "order <rights code>                 an order: orderNo, status, keyStatus, times",
    async run({ positionals: [code] }, context) {
      if (!code) throw new UsageError("order needs a rights code");
      const { order } = await context.client("order", OrderService).getOrder({ code });
      if (!order) throw new Error("the order service answered no order");
      context.print({
        orderNo: order.orderNo,
        code: order.code,
        type: order.type,
        status: order.status,
        keyStatus: order.keyStatus,
        voucherNo: order.voucherNo,
        psbcOrderNo: order.psbcOrderNo,
        createdAt: businessTime(order.createdAt),
        bookedAt: businessTime(order.bookedAt),
        keyUsageTime: businessTime(order.keyUsageTime),
        completedAt: businessTime(order.completedAt),
        cancelledAt: businessTime(order.cancelledAt),
      });
    },
  },
];
