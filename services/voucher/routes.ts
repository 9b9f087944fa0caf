import type { ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampInstant } from "../common/clock.js";
import { VoucherSchema, VoucherService, type Voucher } from "../../proto/gen/rights/voucher/v1/voucher_pb.js";
import type { VoucherRecord } from "./voucher-store.js";
import type { Vouchers } from "./vouchers.js";

export function voucherServiceImpl(vouchers: Vouchers): ServiceImpl<typeof VoucherService> {
  return {
    async issueVoucher(req) {
      return { voucher: toMessage(await vouchers.issue({ ...req, validUntil: req.validUntil && timestampInstant(req.validUntil) })) };
    },
    async voidVoucher(req) {
      return { voucher: toMessage(await vouchers.void(req.orderNo)) };
    },
    async getVoucher(req) {
      return { voucher: toMessage(await vouchers.get(req.orderNo)) };
    },
    async recordRedemption(req) {
      const { voucher, alreadyRedeemed } = await vouchers.recordRedemption({
        sendChannel: req.sendChannel,
        voucherNo: req.voucherNo,
        redeemedAt: req.redeemedAt && timestampInstant(req.redeemedAt),
        noticeId: req.noticeId,
        nonce: req.nonce,
      });
      return { voucher: toMessage(voucher), alreadyRedeemed };
    },
    async expireVoucher(req) {
      return { voucher: toMessage(await vouchers.expire(req.orderNo)) };
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
