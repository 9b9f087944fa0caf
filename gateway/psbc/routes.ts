import type { CallOptions, Client } from "@connectrpc/connect";
import type { FastifyInstance } from "fastify";
import type { OrderService } from "../proto/gen/rights/order/v1/order_pb.js";
import { TRACE_HEADER, runWithTrace } from "../services/common/trace.js";
import type { PsbcOperation } from "./contract-errors.js";
import {
  appointmentResponseSchema,
  baseRequestSchema,
  cancelResponseSchema,
  expiredPointsResponseSchema,
  psbcResponses,
  serviceDetailResponseSchema,
  type PsbcRequestBody,
} from "./psbc-schemas.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Set on PSBC routes, so the error handler answers with that operation's contract messages. */
    psbcOperation?: PsbcOperation;
  }
  interface FastifyRequest {
    /** The contract code answered, for the request log line. */
    psbcCode: number;
  }
}

type OrderClient = Client<typeof OrderService>;

interface PsbcRoute {
  path: string;
  operation: PsbcOperation;
  response: object;
  /** The one order service call behind the route, and the contract's `data` built from its answer. */
  call(client: OrderClient, body: PsbcRequestBody, options: CallOptions): Promise<object>;
}

/** The request as received, `request` still encrypted: the order service owns the keys. */
function envelopeOf(body: PsbcRequestBody) {
  return {
    envelope: {
      type: body.type,
      request: body.request,
      channel: body.channel,
      tranChnl: body.tranChnl,
      backUrl: body.backUrl ?? "",
      instType: body.instType,
      provinceInstNo: body.provinceInstNo,
    },
  };
}

const psbcRoutes: readonly PsbcRoute[] = [
  {
    path: "/api/v1/service/appointment",
    operation: "serviceAppointment",
    response: appointmentResponseSchema,
    async call(client, body, options) {
      const res = await client.bookService(envelopeOf(body), options);
      return { url: res.url, tranChnl: body.tranChnl, instType: body.instType, backUrl: res.backUrl || body.backUrl };
    },
  },
  {
    path: "/api/v1/service/cancel",
    operation: "serviceCancel",
    response: cancelResponseSchema,
    async call(client, body, options) {
      await client.cancelService(envelopeOf(body), options);
      return { tranChnl: body.tranChnl, instType: body.instType, backUrl: body.backUrl };
    },
  },
  {
    path: "/api/v1/order/expired-points",
    operation: "queryExpiredPoints",
    response: expiredPointsResponseSchema,
    async call(client, body, options) {
      const res = await client.queryExpiredPoints(envelopeOf(body), options);
      // Points are far below 2^53; the contract types them as JSON integers.
      return { tranIntglNum: Number(res.tranIntglNum), ovdueIntglNum: Number(res.ovdueIntglNum), noticeMsg: res.noticeMsg };
    },
  },
  {
    path: "/api/v1/service/detail",
    operation: "queryServiceDetail",
    response: serviceDetailResponseSchema,
    async call(client, body, options) {
      const res = await client.getServiceDetail(envelopeOf(body), options);
      return { url: res.url, backUrl: res.backUrl || body.backUrl || "" };
    },
  },
];

/**
 * The PSBC contract routes: each validates the body, makes one order service call under the request's
 * traceId and answers the contract's success envelope. Failures are thrown to the app's error handler.
 */
export function registerPsbcRoutes(app: FastifyInstance, client: OrderClient, callTimeoutMs: number | undefined): void {
  for (const route of psbcRoutes) {
    app.post<{ Body: PsbcRequestBody }>(
      route.path,
      {
        schema: { body: baseRequestSchema, response: psbcResponses(route.response) },
        config: { psbcOperation: route.operation },
      },
      async (request) => {
        const traceId = request.id;
        // The header makes the traceId travel with any transport, not only ours that reads the async context.
        const options: CallOptions = { headers: { [TRACE_HEADER]: traceId }, timeoutMs: callTimeoutMs };
        const data = await runWithTrace(traceId, () => route.call(client, request.body, options));
        request.psbcCode = 0;
        return { code: 0, msg: "成功", traceId, data };
      },
    );
  }
}
