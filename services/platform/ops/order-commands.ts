import { OrderService } from "../../../proto/gen/rights/order/v1/order_pb.js";
import { required, UsageError, type OpsCommand } from "./command.js";
import { formatTimestamp } from "../../common/clock.js";
import { RECORD_ID } from "../../voucher/catalogue/fields.js";

/**
 * `order <code>`: an order as the operator needs it, times in business time (yyyyMMddHHmmss, Asia/Shanghai).
 * `service-type put`: registers or replaces a service type; its AES key and IV come from the environment, so
 * they stay out of the shell's history and the process list.
 */
export const orderCommands: OpsCommand[] = [
  {
    words: ["order"],
    usage: "order <rights code>                 an order: orderNo, status, keyStatus, times",
    positionals: 1,
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
        createdAt: formatTimestamp(order.createdAt),
        bookedAt: formatTimestamp(order.bookedAt),
        keyUsageTime: formatTimestamp(order.keyUsageTime),
        completedAt: formatTimestamp(order.completedAt),
        cancelledAt: formatTimestamp(order.cancelledAt),
      });
    },
  },
  {
    words: ["service-type", "put"],
    usage:
      "service-type put <type> --name N --provider-code A101 --template <WHALE templateId> [--send-channel BLUE_BROTHERS] [--validity-days 365] [--strict-mac]\n" +
      "                                      register or replace a PSBC service type (admin); SERVICE_TYPE_AES_KEY, SERVICE_TYPE_AES_IV: its secret",
    options: ["name", "provider-code", "template", "send-channel", "validity-days"],
    flags: ["strict-mac"],
    positionals: 1,
    async run({ positionals: [type], values }, context) {
      if (!type) throw new UsageError("service-type put needs a type");
      const aesKey = context.env.SERVICE_TYPE_AES_KEY;
      const aesIv = context.env.SERVICE_TYPE_AES_IV;
      if (!aesKey || !aesIv) throw new UsageError("set SERVICE_TYPE_AES_KEY and SERVICE_TYPE_AES_IV (16 ASCII characters each)");
      const template = required(values, "template");
      if (!RECORD_ID.test(template)) throw new UsageError("--template must be a WHALE template id (digits, no leading zero, at most 18)");
      const validityDays = Number(values["validity-days"] ?? "365");
      if (!Number.isInteger(validityDays) || validityDays <= 0) throw new UsageError("--validity-days must be a positive whole number");
      const answer = await context.client("order", OrderService).putServiceType(
        {
          type,
          name: required(values, "name"),
          aesKey,
          aesIv,
          providerCode: required(values, "provider-code"),
          voucherTemplateId: template,
          sendChannel: typeof values["send-channel"] === "string" ? values["send-channel"] : "BLUE_BROTHERS",
          validityDays,
          strictMac: values["strict-mac"] === true,
        },
        context.admin(),
      );
      context.print({ type: answer.type, template });
    },
  },
];
