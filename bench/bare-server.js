// The baseline: a bare Fastify route that answers a constant, in its own process like the real gateway, so
// the benchmark can say how far each real scenario is from what this machine serves at best.
import Fastify from "fastify";

const app = Fastify({ logger: false });
// POST with a JSON body like the PSBC routes, so the floor includes body parsing; the answer is constant.
app.post("/bare", async () => ({ code: 0, msg: "成功" }));
app.get("/healthz", async () => ({ status: "ok" }));

await app.listen({ host: process.env.HOST ?? "127.0.0.1", port: Number(process.env.PORT ?? 0) });

const shutdown = () => void app.close().then(() => process.exit(0));
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);
