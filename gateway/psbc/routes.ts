import type { CallOptions, Client } from "@connectrpc/connect";
import type { FastifyInstance } from "fastify";
import type { Static, TObject } from "typebox";
import type { OrderService } from "../../proto/gen/rights/order/v1/order_pb.js";
import { tracedCall } from "../traced-call.js";
import type { PsbcOperation } from "./errors.js";
import { serviceDetails, type ServiceDetails } from "./service-details.js";
import {
  AppointmentData,
  CancelData,
  ExpiredPointsData,
  PsbcRequest,
  ServiceDetailData,
  psbcResponses,
} from "./schemas.js";

export type OrderClient = Client<typeof OrderService>;

/** What the routes call: the order service, and its detail calls coalesced per event-loop turn. */
interface OrderCalls {
  client: OrderClient;
  details: ServiceDetails;
}

interface PsbcRoute<Data extends TObject> {
  /** Under the contract's prefix. */
  path: string;
  operation: PsbcOperation;
  /** The contract's tag and summary, for the served OpenAPI document. */
  tag: string;
  summary: string;
  data: Data;
  /** The one order service call behind the route, and the contract's `data` built from its answer. */
  call(order: OrderCalls, body: PsbcRequest, options: CallOptions): Promise<Static<Data>>;
}

/** Checks each route's `call` against its own `data` schema, which a plain array of routes would not. */
const psbcRoute = <Data extends TObject>(route: PsbcRoute<Data>) => route as PsbcRoute<TObject>;

const envelopeFields = Object.keys(PsbcRequest.properties) as Array<keyof PsbcRequest>;

/**
 * The request as received, `request` still encrypted (the order service owns the keys): the contract's fields
 * only, so nothing else a caller adds to the body reaches the order service.
 */
function envelopeOf(body: PsbcRequest) {
  return { envelope: Object.fromEntries(envelopeFields.map((field) => [field, body[field]])) as PsbcRequest };
}

const psbcRoutes = [
  psbcRoute({
    path: "/service/appointment",
    operation: "serviceAppointment",
    tag: "服务预约",
    summary: "服务预约接口",
    data: AppointmentData,
    async call(order, body, options) {
      const res = await order.client.bookService(envelopeOf(body), options);
      return { url: res.url, tranChnl: body.tranChnl, instType: body.instType, backUrl: res.backUrl || body.backUrl };
    },
  }),
  psbcRoute({
    path: "/service/cancel",
    operation: "serviceCancel",
    tag: "服务取消",
    summary: "服务取消接口",
    data: CancelData,
    async call(order, body, options) {
      await order.client.cancelService(envelopeOf(body), options);
      return { tranChnl: body.tranChnl, instType: body.instType, backUrl: body.backUrl };
    },
  }),
  psbcRoute({
    path: "/order/expired-points",
    operation: "queryExpiredPoints",
    tag: "积分查询",
    summary: "订单过期积分查询接口",
    data: ExpiredPointsData,
    async call(order, body, options) {
      const res = await order.client.queryExpiredPoints(envelopeOf(body), options);
      // Points are far below 2^53; the contract types them as JSON integers.
      return { tranIntglNum: Number(res.tranIntglNum), ovdueIntglNum: Number(res.ovdueIntglNum), noticeMsg: res.noticeMsg };
    },
  }),
  psbcRoute({
    path: "/service/detail",
    operation: "queryServiceDetail",
    tag: "服务详情",
    summary: "服务详情查询接口",
    data: ServiceDetailData,
    async call(order, body) {
      const res = await order.details(envelopeOf(body).envelope);
      return { url: res.url, backUrl: res.backUrl || body.backUrl || "" };
    },
  }),
];

/**
 * The PSBC contract routes: each validates the body, makes one order service call under the request's
 * traceId (detail: its place in the turn's one GetServiceDetails) and answers the contract's success envelope.
 * Failures are thrown to the scope's error handler.
 */
export function registerPsbcRoutes(scope: FastifyInstance, client: OrderClient, callTimeoutMs: number | undefined): void {
  const order: OrderCalls = { client, details: serviceDetails(client, callTimeoutMs) };
  for (const route of psbcRoutes) {
    scope.post<{ Body: PsbcRequest }>(
      route.path,
      {
        schema: {
          operationId: route.operation,
          tags: [route.tag],
          summary: route.summary,
          body: PsbcRequest,
          response: psbcResponses(route.data),
        },
        config: { psbcOperation: route.operation },
      },
      async (request) => {
        const traceId = request.id;
        const data = await tracedCall(traceId, callTimeoutMs, (options) => route.call(order, request.body, options));
        request.contractCode = 0;
        return { code: 0, msg: "成功", traceId, data };
      },
    );
  }
}
