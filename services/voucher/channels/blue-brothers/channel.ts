import { invalidResponse, postSigned, UpstreamError, type UpstreamTarget } from "../../../common/upstream-http.js";
import { VOUCHER_URL_MAX_LENGTH, VoucherAlreadyRedeemed, type MadeCode, type SendChannel } from "../send-channel.js";
import { BLUE_BROTHERS_QUERY_WIRE } from "./callback-wire.js";
import { BLUE_BROTHERS_CODES, BLUE_BROTHERS_ISSUE_MAX_LENGTH, BLUE_BROTHERS_WIRE } from "./wire.js";

export type BlueBrothersConfig = UpstreamTarget;

/**
 * The Blue Brothers (蓝色兄弟) HTTP adapter: signed JSON calls to `config.baseUrl`, each bounded by `config.timeoutMs`.
 * Blue Brothers issues one voucher per outOrderNo, so an order of one code is issued under the order's own id (the
 * PSBC booking: our order number, as before the port) and an order of n codes under `<id>.<i>`, i = 1..n; each
 * code keeps its outOrderNo as its channel reference.
 */
export function createBlueBrothersChannel(config: BlueBrothersConfig): SendChannel {
  const issue = async (outOrderNo: string, productRef: string, rightsCode: string, customerRef: string): Promise<MadeCode> => {
    const data = await postSigned(BLUE_BROTHERS_WIRE, config, "issue", { outOrderNo, templateId: productRef, rightsCode, customerRef });
    if (typeof data.voucherNo !== "string" || data.voucherNo === "" || typeof data.url !== "string" || data.url === "") {
      throw invalidResponse("blue-brothers", "issue", "voucherNo and url expected");
    }
    // PSBC's contract caps the URL we hand back; a longer one would break every answer that carries it.
    if (data.url.length > VOUCHER_URL_MAX_LENGTH) {
      throw invalidResponse("blue-brothers", "issue", `url of ${data.url.length} characters, above ${VOUCHER_URL_MAX_LENGTH}`);
    }
    return { code: data.voucherNo, url: data.url, channelRef: outOrderNo };
  };

  return {
    async makeCodes(order) {
      const outOrderNos =
        order.codeNum === 1 ? [order.sendChannelOrderId] : Array.from({ length: order.codeNum }, (_, i) => `${order.sendChannelOrderId}.${i + 1}`);
      const longest = outOrderNos[outOrderNos.length - 1] ?? "";
      if (longest.length > BLUE_BROTHERS_ISSUE_MAX_LENGTH.outOrderNo) {
        throw invalidResponse("blue-brothers", "issue", `outOrderNo ${longest.length} characters long, above ${BLUE_BROTHERS_ISSUE_MAX_LENGTH.outOrderNo}`);
      }
      // Without a rights code of its own (a WHALE make-code), the trade number stands in; the customer stays opaque.
      const rightsCode = order.rightsCode ?? order.whaleTradeNo;
      const customerRef = order.customerRef ?? `${order.saleChannelId}`;
      const made: MadeCode[] = [];
      // One at a time: a channel we assume has no batch call should not see a burst of n parallel issues.
      for (const outOrderNo of outOrderNos) made.push(await issue(outOrderNo, order.productRef, rightsCode, customerRef));
      return made;
    },

    async voidCode({ channelRef, code }) {
      try {
        await postSigned(BLUE_BROTHERS_WIRE, config, "void", { outOrderNo: channelRef, voucherNo: code });
      } catch (err) {
        if (err instanceof UpstreamError && err.code === String(BLUE_BROTHERS_CODES.VOUCHER_REDEEMED)) {
          throw new VoucherAlreadyRedeemed(channelRef);
        }
        throw err;
      }
    },

    async queryCode({ channelRef, code }) {
      const data = await postSigned(BLUE_BROTHERS_QUERY_WIRE, config, "query", { outOrderNo: channelRef, voucherNo: code });
      const redeemedAt = data.redeemedAt === undefined ? undefined : new Date(data.redeemedAt);
      if (!["NORMAL", "REDEEMED", "VOIDED"].includes(data.status) || (redeemedAt && Number.isNaN(redeemedAt.getTime()))) {
        throw invalidResponse("blue-brothers", "query", "status NORMAL, REDEEMED or VOIDED and an ISO 8601 redeemedAt expected");
      }
      return { status: data.status, redeemedAt };
    },
  };
}
