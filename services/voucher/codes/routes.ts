import type { ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { CodeOrderSchema, CodeService, type CodeOrder } from "../../../proto/gen/rights/voucher/v1/codes_pb.js";
import type { CodeOrderRecord } from "./code-order-store.js";
import type { MakeCodes } from "./make-code.js";
import type { SaleChannelSignatures } from "./sale-channel-signatures.js";

export function codeServiceImpl(makeCodes: MakeCodes, signatures: SaleChannelSignatures): ServiceImpl<typeof CodeService> {
  return {
    async makeCode(req) {
      return { order: toMessage(await makeCodes.make(req)) };
    },
    async getCodeOrder(req) {
      return { order: toMessage(await makeCodes.get(req.saleChannelId, req.saleChannelOrderId)) };
    },
    async authenticateSaleChannel(req) {
      await signatures.verify(req.saleChannelId, req.body, req.signature);
      return {};
    },
    async signForSaleChannel(req) {
      return { signature: await signatures.sign(req.saleChannelId, req.body) };
    },
  };
}

function toMessage(order: CodeOrderRecord): CodeOrder {
  return create(CodeOrderSchema, {
    tradeNo: order.tradeNo,
    saleChannelId: order.saleChannelId,
    saleChannelOrderId: order.saleChannelOrderId,
    createdAt: timestampFromDate(order.createdAt),
    notify: order.orderMobile !== null,
    codeNum: order.codes.length,
    item: {
      codes: order.codes.map((code) => ({ code: code.code, codeUrl: code.url, useTimes: order.useTimes, status: code.status })),
      validStart: timestampFromDate(order.validStart),
      validEnd: timestampFromDate(order.validEnd),
      saleChannelItemId: order.saleChannelItemId,
      ticketId: order.templateId,
      ticketName: order.ticketName,
      activityId: order.activityId,
      activityName: order.activityName,
    },
  });
}
