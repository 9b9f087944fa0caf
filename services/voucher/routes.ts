import type { ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { VoucherSchema, VoucherService, type Voucher } from "../../proto/gen/rights/voucher/v1/voucher_pb.js";
import type { VoucherRecord } from "./voucher-store.js";
import type { Vouchers } from "./vouchers.js";

export function voucherServiceImpl(vouchers: Vouchers): ServiceImpl<typeof VoucherService> {
  return {
    async issueVoucher(req) {
      return { voucher: toMessage(await vouchers.issue(req)) };
    },
    async voidVoucher(req) {
      return { voucher: toMessage(await vouchers.void(req.orderNo)) };
    },
    async getVoucher(req) {
      return { voucher: toMessage(await vouchers.get(req.orderNo)) };
    },
  };
}

function toMessage(record: VoucherRecord): Voucher {
  return create(VoucherSchema, {
    orderNo: record.orderNo,
    voucherNo: record.voucherNo ?? "",
    url: record.url ?? "",
    keyStatus: record.keyStatus,
    sendChannel: record.sendChannel,
    templateId: record.templateId,
  });
}
