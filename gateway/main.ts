// The gateway on its own: `node dist/gateway/main.js`. Configuration is the lead's `gatewaySpec`.
import { createClient } from "@connectrpc/connect";
import { OrderService } from "../proto/gen/rights/order/v1/order_pb.js";
import { gatewaySpec, processSpec, readConfig } from "../services/common/config.js";
import { createLogger } from "../services/common/logger.js";
import { rpcTransport } from "../services/common/rpc-client.js";
import { buildGateway, grpcHealthCheck } from "./app.js";

const env = readConfig({ ...processSpec, ...gatewaySpec });
const logger = createLogger("gateway", env.LOG_LEVEL);
const orderTransport = rpcTransport(env.ORDER_SERVICE_URL, { timeoutMs: env.GATEWAY_RPC_TIMEOUT_MS });
const gateway = await buildGateway({
  orderService: createClient(OrderService, orderTransport),
  readiness: [{ name: "order", check: grpcHealthCheck(orderTransport) }],
  logger,
});
await gateway.listen({ host: env.HOST, port: env.PORT });

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    // Fastify answers 503 to new requests while in-flight ones finish.
    gateway.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  });
}
