import { errorCodes, type FastifyPluginAsync } from "fastify";
import type { PublicContract } from "../public-contract.js";
import type { Metrics } from "../../services/common/metrics.js";
import { psbcErrorSender } from "./errors.js";
import { registerReconciliationRoutes, type ReconciliationClient } from "./reconciliation-routes.js";
import { registerPsbcRoutes, type OrderClient } from "./routes.js";

export interface PsbcOptions {
  orderService: OrderClient;
  reconciliationService: ReconciliationClient;
  /** Deadline of each order service call. Unset, the transport's default deadline applies (`rpcTransport` sets one). */
  callTimeoutMs?: number;
  metrics: Metrics;
}

/**
 * The PSBC contract in its own scope: its routes, and its own error and not-found answers, so every answer
 * under its prefix (an unknown path or method included) is the contract's envelope.
 */
export const psbcPlugin: FastifyPluginAsync<PsbcOptions> = async (scope, options) => {
  // PSBC sends JSON only; anything else is a 415 that the mapping turns into a parameter error.
  scope.removeContentTypeParser("text/plain");
  const sendPsbcError = psbcErrorSender(options.metrics);
  scope.setErrorHandler(sendPsbcError);
  scope.setNotFoundHandler((request, reply) => sendPsbcError(new errorCodes.FST_ERR_NOT_FOUND(), request, reply));
  registerPsbcRoutes(scope, options.orderService, options.callTimeoutMs);
  registerReconciliationRoutes(scope, options.reconciliationService, options.callTimeoutMs);
};

/** The contract PSBC calls us by (`psbc-openapi.yaml`), under /api/v1. */
export function psbcContract(options: PsbcOptions): PublicContract {
  return {
    name: "psbc",
    prefix: "/api/v1",
    document: {
      info: { title: "虚拟商品充值服务商系统 - 对外接口", version: "1.0.0" },
      tags: [
        { name: "服务预约", description: "服务预约相关接口" },
        { name: "服务取消", description: "服务取消相关接口" },
        { name: "积分查询", description: "积分查询相关接口" },
        { name: "服务详情", description: "服务详情查询接口" },
        { name: "对账管理", description: "对账管理相关接口" },
      ],
    },
    register: (scope, prefix) => scope.register(psbcPlugin, { ...options, prefix }),
    sendPreRoutingError: psbcErrorSender(options.metrics),
  };
}
