// The internal hop on its own, each transport side by side in one run: a Fastify route making one call to a
// backend that answers from memory, over grpc-js and over connect-node, against the bare route; rounds
// interleaved so every transport sees the same noise. Prints the ratio to the bare route and the CPU of both
// processes per request. `npm run build && node bench/rpc-hop.js` (BENCH_DURATION, BENCH_WARMUP, BENCH_ROUNDS,
// BENCH_CONNECTIONS). The same server and client code as the services: startRpcServer and rpcTransport.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ProcessSampler, benchChild, freePort, loadWindow, round, startBenchRpcServer, stopChild, waitHttp } from "./procs.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const LOGS = join(ROOT, "bench", "results", "logs");
const TRANSPORTS = ["grpc-js", "connect-node"];
const env = process.env;
const [role, transport, port, backendUrl] = process.argv.slice(2);

async function backend() {
  const { OrderService } = await import("../dist/proto/gen/rights/order/v1/order_pb.js");
  await startBenchRpcServer({
    name: "hop-backend",
    port,
    transport,
    routes: (router) => router.service(OrderService, { getServiceDetail: () => ({ status: 200, url: "https://voucher.example/v/1" }) }),
  });
}

async function front() {
  const { default: Fastify } = await import("fastify");
  const { createClient } = await import("@connectrpc/connect");
  const { rpcTransport } = await import("../dist/services/common/rpc-client.js");
  const { OrderService } = await import("../dist/proto/gen/rights/order/v1/order_pb.js");
  const client = createClient(OrderService, rpcTransport(backendUrl, { transport }));
  const app = Fastify({ logger: false });
  app.post("/hop", async () => {
    const detail = await client.getServiceDetail({});
    return { code: 0, msg: "成功", data: { status: detail.status, url: detail.url } };
  });
  app.get("/healthz", async () => ({ status: "ok" }));
  await app.listen({ host: "127.0.0.1", port: Number(port) });
}

const log = (line = "") => process.stdout.write(`${line}\n`);

async function main() {
  const duration = Number(env.BENCH_DURATION ?? 5);
  const warmup = Number(env.BENCH_WARMUP ?? 1);
  const rounds = Number(env.BENCH_ROUNDS ?? 2);
  const connections = Number(env.BENCH_CONNECTIONS ?? 50);
  const children = [];
  const spawn = (name, script, args, extra = {}) => {
    const child = benchChild({ root: ROOT, logs: LOGS, logPrefix: "hop-", name, script, args, env: extra });
    children.push(child);
    return child;
  };
  try {
    const barePort = await freePort();
    const bare = spawn("bare", "bench/bare-server.js", [], { PORT: String(barePort) });
    await waitHttp(`http://127.0.0.1:${barePort}/healthz`, bare);
    const targets = [{ name: "bare", url: `http://127.0.0.1:${barePort}`, path: "/bare", pids: [bare] }];
    for (const kind of TRANSPORTS) {
      const [bp, fp] = [await freePort(), await freePort()];
      const back = spawn(`${kind}-backend`, "bench/rpc-hop.js", ["backend", kind, String(bp)]);
      const fr = spawn(`${kind}-front`, "bench/rpc-hop.js", ["front", kind, String(fp), `http://127.0.0.1:${bp}`]);
      await waitHttp(`http://127.0.0.1:${fp}/healthz`, fr);
      targets.push({ name: kind, url: `http://127.0.0.1:${fp}`, path: "/hop", pids: [fr, back] });
    }
    const sampler = new ProcessSampler(500);
    for (const child of children) sampler.track(child.name, child.pid);
    const figures = new Map(targets.map((t) => [t.name, []]));
    for (let r = 1; r <= rounds; r++) {
      for (const t of targets) {
        const { result, window, answered } = await loadWindow(sampler, t, { connections, warmup, duration });
        const cpu = t.pids.reduce((sum, c) => sum + (window.processes[c.name].cpuPercentOfCore ?? 0), 0);
        const perRequestUs = answered > 0 ? round((cpu / 100) * window.seconds * 1e6 / answered, 0) : null;
        figures.get(t.name).push({ reqPerSec: Math.round(result.requests.average), p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx, cpuUsPerReq: perRequestUs });
        log(`round ${r} ${t.name.padEnd(13)} ${Math.round(result.requests.average)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, ${result.errors + result.non2xx} errors, ${perRequestUs} µs CPU/req`);
      }
    }
    log("\ntransport of the hop   ratio to bare (per round)   CPU µs/req (front + backend)   p50/p99 ms");
    for (const kind of TRANSPORTS) {
      const rows = figures.get(kind);
      const ratios = rows.map((row, i) => (row.reqPerSec / figures.get("bare")[i].reqPerSec).toFixed(3));
      log(`${kind.padEnd(22)} ${ratios.join(", ").padEnd(28)} ${rows.map((row) => row.cpuUsPerReq).join(", ").padEnd(31)} ${rows.map((row) => `${row.p50}/${row.p99}`).join(", ")}`);
    }
  } finally {
    for (const child of children.reverse()) await stopChild(child);
  }
}

if (role === "backend" || role === "front") {
  await (role === "backend" ? backend() : front());
  // A clean exit, so a --cpu-prof run writes its profile.
  for (const signal of ["SIGTERM", "SIGINT"]) process.once(signal, () => process.exit(0));
} else {
  await main();
  process.exit(0);
}
