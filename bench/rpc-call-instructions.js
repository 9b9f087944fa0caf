// Instructions per unary call on the client side of the internal hop, counted by valgrind's callgrind (which do
// not move with the machine's load, unlike time): a client process makes N and then 4N calls, 50 in flight, to
// the same plain @grpc/grpc-js server; (I(4N) - I(N)) / 3N is a call's cost without start-up and JIT warm-up.
//   node bench/rpc-call-instructions.js [checkout …]      (default: this one; each built with npm run build)
// Clients: `transport` (the checkout's rpcTransport, through connect-es's createClient, as services call),
// `grpc-js` (Client.makeUnaryRequest, plain) and `http2` (a unary gRPC call written on node:http2: the floor).
// Needs valgrind; ~1 min per figure. BENCH_CALLS (N, default 1000).
import { spawn, spawnSync } from "node:child_process";
import http2 from "node:http2";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(import.meta.url);
const HARNESS = fileURLToPath(new URL("..", import.meta.url));
const [role, root, kind, port] = process.argv.slice(2);
const TRACE = "0123456789abcdef0123456789abcdef";

async function load(checkout) {
  const { OrderService } = await import(path.join(checkout, "dist/proto/gen/rights/order/v1/order_pb.js"));
  const { create, fromBinary, toBinary } = await import("@bufbuild/protobuf");
  const { default: grpc } = await import("@grpc/grpc-js");
  return { OrderService, method: OrderService.method.getServiceDetail, create, fromBinary, toBinary, grpc };
}

async function server(checkout, listenPort) {
  const { OrderService, method, create, fromBinary, toBinary, grpc } = await load(checkout);
  const s = new grpc.Server();
  const path = `/${OrderService.typeName}/GetServiceDetail`;
  s.addService(
    { getServiceDetail: { path, requestStream: false, responseStream: false, requestSerialize: (m) => Buffer.from(toBinary(method.input, m)), requestDeserialize: (b) => fromBinary(method.input, b), responseSerialize: (m) => Buffer.from(toBinary(method.output, m)), responseDeserialize: (b) => fromBinary(method.output, b) } },
    { getServiceDetail: (_call, callback) => callback(null, create(method.output, { status: 200, url: "https://voucher.example/v/1" })) },
  );
  await new Promise((resolve, reject) => s.bindAsync(`127.0.0.1:${listenPort}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  process.send("ready");
}

async function client(checkout, clientKind, serverPort) {
  const { OrderService, method, create, fromBinary, toBinary, grpc } = await load(checkout);
  const input = create(method.input, { envelope: { type: "310001", request: "x".repeat(88), channel: "12" } });
  const path = `/${OrderService.typeName}/GetServiceDetail`;
  const deadlineMs = 600_000; // valgrind is slow: no call may time out
  let call;
  if (clientKind === "transport") {
    const { createClient } = await import("@connectrpc/connect");
    const { rpcTransport } = await import(`${checkout}/dist/services/common/rpc-client.js`);
    const orders = createClient(OrderService, rpcTransport(`http://127.0.0.1:${serverPort}`, { transport: "grpc-js", timeoutMs: deadlineMs }));
    call = () => orders.getServiceDetail(input, { headers: { "x-trace-id": TRACE } });
  } else if (clientKind === "grpc-js") {
    const c = new grpc.Client(`127.0.0.1:${serverPort}`, grpc.credentials.createInsecure());
    call = () =>
      new Promise((resolve, reject) => {
        const metadata = new grpc.Metadata();
        metadata.set("x-trace-id", TRACE);
        c.makeUnaryRequest(path, (m) => Buffer.from(toBinary(method.input, m)), (b) => fromBinary(method.output, b), input, metadata, { deadline: Date.now() + deadlineMs }, (err, value) => (err ? reject(err) : resolve(value)));
      });
  } else {
    const session = http2.connect(`http://127.0.0.1:${serverPort}`);
    call = () =>
      new Promise((resolve, reject) => {
        const body = toBinary(method.input, input);
        const frame = Buffer.allocUnsafe(5 + body.length);
        frame[0] = 0;
        frame.writeUInt32BE(body.length, 1);
        frame.set(body, 5);
        const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", "grpc-timeout": "600S", "x-trace-id": TRACE });
        const chunks = [];
        stream.on("data", (chunk) => chunks.push(chunk));
        stream.on("end", () => resolve(fromBinary(method.output, Buffer.concat(chunks).subarray(5))));
        stream.on("error", reject);
        stream.end(frame);
      });
  }
  let left = Number(process.env.CALLS);
  let failed = 0;
  await Promise.all(Array.from({ length: 50 }, async () => {
    while (left-- > 0) await call().catch(() => failed++);
  }));
  process.stderr.write(`failed ${failed}\n`);
  process.exit(0);
}

/** Instructions of a client process making `calls` calls. */
async function instructions(checkout, clientKind, calls) {
  const serverPort = 40_000 + Math.floor(Math.random() * 10_000);
  const s = spawn(process.execPath, [HERE, "server", checkout, "", String(serverPort)], { cwd: HARNESS, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  await new Promise((resolve) => s.once("message", resolve));
  try {
    const out = spawnSync("valgrind", ["--tool=callgrind", "--callgrind-out-file=/dev/null", process.execPath, HERE, "client", checkout, clientKind, String(serverPort)], { cwd: HARNESS, env: { ...process.env, CALLS: String(calls) }, encoding: "utf8" });
    const failed = Number(out.stderr.match(/failed (\d+)/)?.[1] ?? NaN);
    const total = Number(out.stderr.match(/Collected : (\d+)/)?.[1] ?? NaN);
    if (failed !== 0 || !Number.isFinite(total)) throw new Error(`${clientKind} client of ${checkout}: ${failed} calls failed\n${out.stderr.slice(-2000)}`);
    return total;
  } finally {
    s.kill();
  }
}

if (role === "server") await server(root, Number(port));
else if (role === "client") await client(root, kind, Number(port));
else {
  const checkouts = process.argv.slice(2).map((dir) => path.resolve(dir));
  if (checkouts.length === 0) checkouts.push(HARNESS.replace(/\/$/, ""));
  const n = Number(process.env.BENCH_CALLS ?? 1000);
  const rows = [...checkouts.map((checkout) => ["transport", checkout]), ["grpc-js", checkouts[0]], ["http2", checkouts[0]]];
  for (const [clientKind, checkout] of rows) {
    const [small, large] = await Promise.all([instructions(checkout, clientKind, n), instructions(checkout, clientKind, 4 * n)]);
    const label = clientKind === "transport" ? `transport of ${path.relative(process.cwd(), checkout) || "."}` : clientKind;
    process.stdout.write(`${label.padEnd(40)} ${((large - small) / (3 * n) / 1e6).toFixed(3)}M instructions per call\n`);
  }
  process.exit(0);
}
