import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { errorCodes } from "fastify";
import { describe, expect, it } from "vitest";
import { ErrorDetailSchema } from "../../proto/gen/rights/common/v1/error_pb.js";
import { OrderError, orderError } from "../../services/order/errors.js";
import { VoucherError, voucherError } from "../../services/voucher/errors.js";
import { errorLogFields, toContractAnswer } from "./errors.js";

describe("toContractAnswer", () => {
  it.each([
    [OrderError.PARAMETER_INVALID, 400, 2, "参数错误"],
    [OrderError.SERVICE_NOT_SUPPORTED, 400, 4, "暂不支持此服务"],
    [OrderError.SERVICE_EXPIRED, 400, 4, "服务已过期"],
    [OrderError.SERVICE_IN_EFFECT, 400, 4, "服务已生效无法取消"],
    [OrderError.SERVICE_CANCELLED, 400, 4, "服务已取消"],
    [OrderError.SERVICE_NOT_BOOKED, 400, 4, "服务未预约"],
    [OrderError.REQUEST_IN_PROGRESS, 400, 4, "请求处理中,请稍后重试"],
    [OrderError.ORDER_NOT_FOUND, 400, 1, "订单不存在"],
    [OrderError.UPSTREAM_FAILED, 500, 1, "系统异常"],
    [OrderError.UNSPECIFIED, 500, 1, "系统异常"],
  ])("maps reason %s to HTTP %s code %s %s", (reason, httpStatus, code, msg) => {
    expect(toContractAnswer(orderError(reason, "x"), "serviceCancel")).toEqual({ httpStatus, code, msg });
  });

  it("answers the expired-points query's own system error text", () => {
    const expected = { httpStatus: 500, code: 1, msg: "查询失败,请重试" };
    expect(toContractAnswer(orderError(OrderError.UPSTREAM_FAILED, "x"), "queryExpiredPoints")).toEqual(expected);
    expect(toContractAnswer(new Error("boom"), "queryExpiredPoints")).toEqual(expected);
    expect(toContractAnswer(orderError(OrderError.SERVICE_EXPIRED, "x"), "queryExpiredPoints").msg).toBe("服务已过期");
  });

  it("answers the default system error for a reason it does not map: a newer server's, or another domain's", () => {
    const detailed = (domain: string, reason: string) =>
      new ConnectError("x", Code.FailedPrecondition, undefined, [{ desc: ErrorDetailSchema, value: create(ErrorDetailSchema, { domain, reason }) }]);
    const systemError = { httpStatus: 500, code: 1, msg: "系统异常" };
    expect(toContractAnswer(detailed("rights.order.v1.OrderError", "ORDER_ERROR_FROM_THE_FUTURE"), "serviceAppointment")).toEqual(systemError);
    expect(toContractAnswer(detailed("rights.wallet.v1.WalletError", "ORDER_ERROR_SERVICE_EXPIRED"), "serviceAppointment")).toEqual(systemError);
    // A voucher reason shares its name with an order reason the contract answers with a business code.
    expect(toContractAnswer(voucherError(VoucherError.REDEEMED, "x"), "serviceCancel")).toEqual(systemError);
    expect(toContractAnswer(voucherError(VoucherError.PARAMETER_INVALID, "x"), "serviceCancel")).toEqual(systemError);
  });

  it.each([Code.Unavailable, Code.DeadlineExceeded, Code.Internal, Code.InvalidArgument, Code.Canceled])(
    "maps a bare gRPC code %s to a system error",
    (code) => {
      expect(toContractAnswer(new ConnectError("x", code), "queryServiceDetail")).toEqual({ httpStatus: 500, code: 1, msg: "系统异常" });
    },
  );

  it("maps Fastify's client errors to parameter errors and an unknown route to 404", () => {
    const param = { httpStatus: 400, code: 2, msg: "参数错误" };
    expect(toContractAnswer(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), "serviceCancel")).toEqual(param);
    expect(toContractAnswer(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE("text/html"), "serviceCancel")).toEqual(param);
    expect(toContractAnswer(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY(), "serviceCancel")).toEqual(param);
    expect(toContractAnswer(new errorCodes.FST_ERR_BAD_URL("/%c0"), undefined)).toEqual(param);
    expect(toContractAnswer(new errorCodes.FST_ERR_NOT_FOUND(), undefined)).toEqual({ httpStatus: 404, code: 2, msg: "参数错误" });
  });

  it("maps anything else to a system error", () => {
    expect(toContractAnswer(new TypeError("bug"), "serviceAppointment")).toEqual({ httpStatus: 500, code: 1, msg: "系统异常" });
    expect(toContractAnswer("a string", undefined)).toEqual({ httpStatus: 500, code: 1, msg: "系统异常" });
    expect(toContractAnswer(Object.assign(new Error("x"), { statusCode: 503 }), undefined).httpStatus).toBe(500);
  });
});

describe("errorLogFields", () => {
  it("names the gRPC code and reason of a service error", () => {
    expect(errorLogFields(orderError(OrderError.SERVICE_EXPIRED, "rights code expired"))).toEqual({
      grpcCode: "FailedPrecondition",
      domain: "rights.order.v1.OrderError",
      reason: "ORDER_ERROR_SERVICE_EXPIRED",
      grpcMessage: "rights code expired",
    });
  });

  it("keeps a client error's text (which may quote the body) out of the log", () => {
    const parseError = Object.assign(new SyntaxError('Unexpected token in "{"request":"SECRET'), {
      statusCode: 400,
      code: "FST_ERR_CTP_INVALID_JSON_BODY",
    });
    expect(JSON.stringify(errorLogFields(parseError))).not.toContain("SECRET");
  });
});
