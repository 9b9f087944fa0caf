import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  OrderService,
  type GetServiceDetailResponseSchema,
  type RightsEnvelope,
  type ServiceDetailCall,
  type ServiceDetailOutcomeSchema,
} from "../../proto/gen/rights/order/v1/order_pb.js";
import { callFailureOf } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { asOwnCall } from "../common/rpc-server.js";
import { RECORD_ID } from "../voucher/catalogue/fields.js";
import type { Bookings } from "./bookings.js";
import { OrderError, orderError } from "./errors.js";
import type { OrderViews } from "./order-views.js";
import type { ServiceTypes } from "./service-types.js";

/** At most this many detail calls in one GetServiceDetails (the order rows' batched lookup takes as many). */
const MAX_DETAIL_CALLS = 100;

const DETAIL_RPC = `${OrderService.typeName}/${OrderService.method.getServiceDetail.name}`;

/** The gRPC face of the order service: unwraps requests, calls one use case, shapes the answer. */
export function orderServiceImpl(bookings: Bookings, serviceTypes: ServiceTypes, views: OrderViews, logger: Logger): ServiceImpl<typeof OrderService> {
  const detail = async (envelope: RightsEnvelope | undefined): Promise<MessageInitShape<typeof GetServiceDetailResponseSchema>> => {
    const order = await bookings.detail(envelopeOf(envelope));
    return { orderNo: order.orderNo, url: order.voucherUrl, backUrl: order.backUrl, status: order.status, keyStatus: order.keyStatus };
  };
  /** One call of a batch, answered and logged as GetServiceDetail would have answered and logged it. */
  const detailOutcome = async (call: ServiceDetailCall, signal: AbortSignal): Promise<MessageInitShape<typeof ServiceDetailOutcomeSchema>> => {
    const result = await asOwnCall({ rpc: DETAIL_RPC, traceId: call.traceId, signal, logger }, () => detail(call.envelope));
    return { outcome: result.ok ? { case: "detail", value: result.value } : { case: "failure", value: callFailureOf(result.error) } };
  };
  return {
    async bookService(req, context) {
      const order = await bookings.book(envelopeOf(req.envelope), context.timeoutMs());
      return { orderNo: order.orderNo, url: order.voucherUrl ?? "", backUrl: order.backUrl };
    },
    async cancelService(req, context) {
      const order = await bookings.cancel(envelopeOf(req.envelope), context.timeoutMs());
      return { orderNo: order.orderNo, status: order.status };
    },
    getServiceDetail: (req) => detail(req.envelope),
    async getServiceDetails(req, context) {
      if (req.calls.length === 0 || req.calls.length > MAX_DETAIL_CALLS) {
        throw orderError(OrderError.PARAMETER_INVALID, `1 to ${MAX_DETAIL_CALLS} calls`);
      }
      return { outcomes: await Promise.all(req.calls.map((call) => detailOutcome(call, context.signal))) };
    },
    async queryExpiredPoints(req) {
      const points = await bookings.expiredPoints(envelopeOf(req.envelope));
      return {
        tranIntglNum: BigInt(points.tranIntglNum),
        ovdueIntglNum: BigInt(points.ovdueIntglNum),
        noticeMsg: points.noticeMsg,
      };
    },
    async putServiceType(req) {
      const ascii16 = /^[\x20-\x7e]{16}$/;
      if (!/^[0-9A-Za-z]{1,6}$/.test(req.type) || !ascii16.test(req.aesKey) || !ascii16.test(req.aesIv)) {
        throw orderError(OrderError.PARAMETER_INVALID, "type must be 1-6 characters, key and IV 16 ASCII characters");
      }
      // The voucher's template is a WHALE catalogue template (an id); its send channel is the template's.
      if (!RECORD_ID.test(req.voucherTemplateId) || req.validityDays <= 0) {
        throw orderError(OrderError.PARAMETER_INVALID, "a WHALE template id and validity days are required");
      }
      await serviceTypes.put(req);
      return { type: req.type };
    },
    async getOrder(req) {
      const order = await views.byCode(req.code);
      if (!order) throw orderError(OrderError.ORDER_NOT_FOUND, "order not found");
      return { order };
    },
    async findRedeemedUncompleted(req) {
      const byCodes = req.codes.length > 0;
      if (byCodes === Boolean(req.usageStart && req.usageEnd) || req.limit <= 0 || req.limit > 1000 || req.codes.length > 1000) {
        throw orderError(OrderError.PARAMETER_INVALID, "codes or a usage time range (not both), and a limit of 1 to 1000");
      }
      return { orders: await views.redeemedUncompleted(req) };
    },
  };
}

function envelopeOf(envelope: RightsEnvelope | undefined): RightsEnvelope {
  if (!envelope) throw orderError(OrderError.PARAMETER_INVALID, "envelope is required");
  return envelope;
}
