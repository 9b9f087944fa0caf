// Blue Brothers' own calls (issue one voucher under an outOrderNo, void it) through the send-channel port, for the
// tests of its adapter and sandbox: an order of one code is issued under its own id, as the PSBC booking's is.
import type { SendChannel } from "../../services/voucher/channels/send-channel.js";

export interface IssueInput {
  outOrderNo: string;
  templateId: string;
  rightsCode: string;
  customerRef: string;
}

export async function issueVoucher(channel: SendChannel, input: IssueInput): Promise<{ voucherNo: string; url: string }> {
  const now = new Date();
  const [made] = await channel.makeCodes({
    sendChannelOrderId: input.outOrderNo,
    whaleTradeNo: input.outOrderNo,
    saleChannelId: "PSBC",
    sendChannelId: "BLUE_BROTHERS",
    saleChannelItemId: input.outOrderNo,
    productRef: input.templateId,
    codeNum: 1,
    useTimes: 1,
    validStart: now,
    validEnd: now,
    createdAt: now,
    rightsCode: input.rightsCode,
    customerRef: input.customerRef,
  });
  if (!made) throw new Error("no code made");
  return { voucherNo: made.code, url: made.url };
}

export function voidVoucher(channel: SendChannel, input: { outOrderNo: string; voucherNo: string }): Promise<void> {
  return channel.voidCode({ channelRef: input.outOrderNo, code: input.voucherNo });
}
