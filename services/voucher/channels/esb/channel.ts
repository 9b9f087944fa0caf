import { invalidResponse, postSigned, UpstreamError, type UpstreamTarget } from "../../../common/upstream-http.js";
import { VOUCHER_URL_MAX_LENGTH, VoucherAlreadyRedeemed, type MadeCode, type SendChannel } from "../send-channel.js";
import { decryptCode, ESB_CODES, ESB_WIRE, orderEncryptKeyOf, type EsbEncryption } from "./wire.js";
import { formatBusinessTime, parseBusinessTime } from "../../../common/clock.js";

export interface EsbChannelConfig extends UpstreamTarget {
  /** The merchant and terminal numbers the code maker gave us (sendChannel config). */
  channelMid: string;
  channelTid: string;
  encryption: EsbEncryption;
}

/** The ESB HTTP adapter (`wire.ts`): one signed call per make-code, bounded by `config.timeoutMs`; codes decrypted here. */
export function createEsbChannel(config: EsbChannelConfig): SendChannel {
  const orderEncryptKey = orderEncryptKeyOf(config.encryption);
  return {
    async makeCodes(order) {
      const data = await postSigned(ESB_WIRE, config, "makeCode", {
        saleChannelId: order.saleChannelId,
        sendChannelId: order.sendChannelId,
        sendChannelOrderId: order.sendChannelOrderId,
        whaleTradeNo: order.whaleTradeNo,
        channelMid: config.channelMid,
        channelTid: config.channelTid,
        orderEncryptKey,
        createDate: formatBusinessTime(order.createdAt).slice(0, 8),
        createTime: formatBusinessTime(order.createdAt),
        items: [
          {
            saleChannelItemId: order.saleChannelItemId,
            ticketId: order.productRef,
            codeNum: order.codeNum,
            useTimes: order.useTimes,
            validStart: formatBusinessTime(order.validStart),
            validEnd: formatBusinessTime(order.validEnd),
          },
        ],
      });
      const [item] = Array.isArray(data.items) ? data.items : [];
      const details = item && Array.isArray(item.codeDetail) ? item.codeDetail : [];
      if (item?.itemResultCode !== undefined && item.itemResultCode !== ESB_CODES.SUCCESS) {
        throw new UpstreamError("rejected", "esb", "makeCode", String(item.itemResultCode), String(item.itemResultMsg ?? "item refused"));
      }
      if (details.length !== order.codeNum) throw invalidResponse("esb", "makeCode", `${order.codeNum} codes expected, ${details.length} answered`);
      return details.map((detail): MadeCode => {
        if (typeof detail.code !== "string" || typeof detail.codeURL !== "string" || detail.codeURL.length > VOUCHER_URL_MAX_LENGTH) {
          throw invalidResponse("esb", "makeCode", `each code a string and its codeURL at most ${VOUCHER_URL_MAX_LENGTH} characters`);
        }
        let code: string;
        try {
          code = decryptCode(config.encryption, detail.code);
        } catch {
          throw invalidResponse("esb", "makeCode", "a code that does not decrypt with the channel's key");
        }
        if (!/^[0-9A-Za-z]{1,64}$/.test(code)) throw invalidResponse("esb", "makeCode", "a code of 1-64 letters and digits expected");
        return { code, url: detail.codeURL, channelRef: order.sendChannelOrderId };
      });
    },

    async voidCode({ channelRef, code }) {
      try {
        await postSigned(ESB_WIRE, config, "voidCode", { sendChannelOrderId: channelRef, code, channelMid: config.channelMid });
      } catch (err) {
        if (err instanceof UpstreamError && err.code === ESB_CODES.REDEEMED) throw new VoucherAlreadyRedeemed(channelRef);
        throw err;
      }
    },

    async queryCode({ channelRef, code }) {
      const data = await postSigned(ESB_WIRE, config, "queryCode", { sendChannelOrderId: channelRef, code, channelMid: config.channelMid });
      if (!["NORMAL", "REDEEMED", "VOIDED"].includes(data.status)) throw invalidResponse("esb", "queryCode", "status NORMAL, REDEEMED or VOIDED expected");
      const redeemedAt = data.redeemTime ? parseBusinessTime(data.redeemTime) : undefined;
      return { status: data.status, redeemedAt };
    },
  };
}
