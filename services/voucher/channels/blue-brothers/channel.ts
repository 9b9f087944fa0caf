import { invalidResponse, postSigned, UpstreamError, type UpstreamTarget } from "../../../common/upstream-http.js";
import { VOUCHER_URL_MAX_LENGTH, VoucherAlreadyRedeemed, type SendChannel } from "../send-channel.js";
import { BLUE_BROTHERS_QUERY_WIRE } from "./callback-wire.js";
import { BLUE_BROTHERS_CODES, BLUE_BROTHERS_WIRE } from "./wire.js";

export type BlueBrothersConfig = UpstreamTarget;

/** The Blue Brothers (蓝色兄弟) HTTP adapter: signed JSON calls to `config.baseUrl`, each bounded by `config.timeoutMs`. */
export function createBlueBrothersChannel(config: BlueBrothersConfig): SendChannel {
  return {
    async issueVoucher({ outOrderNo, templateId, rightsCode, customerRef }) {
      const data = await postSigned(BLUE_BROTHERS_WIRE, config, "issue", { outOrderNo, templateId, rightsCode, customerRef });
      if (typeof data.voucherNo !== "string" || data.voucherNo === "" || typeof data.url !== "string" || data.url === "") {
        throw invalidResponse("blue-brothers", "issue", "voucherNo and url expected");
      }
      // PSBC's contract caps the URL we hand back; a longer one would break every answer that carries it.
      if (data.url.length > VOUCHER_URL_MAX_LENGTH) {
        throw invalidResponse("blue-brothers", "issue", `url of ${data.url.length} characters, above ${VOUCHER_URL_MAX_LENGTH}`);
      }
      return { voucherNo: data.voucherNo, url: data.url };
    },

    async voidVoucher({ outOrderNo, voucherNo }) {
      try {
        await postSigned(BLUE_BROTHERS_WIRE, config, "void", { outOrderNo, voucherNo });
      } catch (err) {
        if (err instanceof UpstreamError && err.code === String(BLUE_BROTHERS_CODES.VOUCHER_REDEEMED)) {
          throw new VoucherAlreadyRedeemed(outOrderNo);
        }
        throw err;
      }
    },

    async queryVoucher({ outOrderNo, voucherNo }) {
      const data = await postSigned(BLUE_BROTHERS_QUERY_WIRE, config, "query", { outOrderNo, voucherNo });
      const redeemedAt = data.redeemedAt === undefined ? undefined : new Date(data.redeemedAt);
      if (!["NORMAL", "REDEEMED", "VOIDED"].includes(data.status) || (redeemedAt && Number.isNaN(redeemedAt.getTime()))) {
        throw invalidResponse("blue-brothers", "query", "status NORMAL, REDEEMED or VOIDED and an ISO 8601 redeemedAt expected");
      }
      return { status: data.status, redeemedAt };
    },
  };
}
