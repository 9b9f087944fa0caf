import { isIP } from "node:net";
import { cleanEnv, num, port, str, url, makeValidator, type CleanedEnv, type ValidatorSpec } from "envalid";
import { decodeKek } from "./key-ring.js";
import { DEFAULT_RPC_TRANSPORT, RPC_TRANSPORTS } from "./rpc-transport-kind.js";

/** Thrown when the environment is wrong: every problem at once, so an operator fixes them in one go. */
export class ConfigError extends Error {}

/** 16 ASCII characters: an AES-128 key or IV as PSBC hands them out. */
export const aes16 = makeValidator<string>((value) => {
  if (!/^[\x20-\x7e]{16}$/.test(value)) throw new Error("must be exactly 16 ASCII characters");
  return value;
});

/** A key-encryption key: the Base64 of 32 random bytes. */
export const kek = makeValidator<string>((value) => {
  decodeKek(value);
  return value;
});

/** A bearer token from a Secret: long enough not to be guessed. */
export const secretToken = makeValidator<string>((value) => {
  if (!/^\S{32,}$/.test(value)) throw new Error("must be at least 32 characters, no spaces (e.g. `openssl rand -hex 32`)");
  return value;
});

/** A port a server listens on; 0 picks a free one (tests). */
export const listenPort = makeValidator<number>((value) => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new Error("must be a port number, 0 to 65535");
  return n;
});

/** A comma-separated list of IP addresses and CIDRs ("10.0.0.0/8, 192.168.1.1"); empty: none. */
export const addressList = makeValidator<string[]>((value) => {
  const entries = value.split(",").map((entry) => entry.trim()).filter(Boolean);
  for (const entry of entries) {
    const [address = "", prefix, ...rest] = entry.split("/");
    const family = isIP(address);
    const bits = family === 4 ? 32 : 128;
    if (family === 0 || rest.length > 0 || (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits))) {
      throw new Error(`"${entry}" is not an IP address or CIDR (a comma-separated list, e.g. 10.0.0.0/8,192.168.1.1)`);
    }
  }
  return entries;
});

/** Reads and validates `env` against `spec`; throws a ConfigError naming each missing or invalid variable. */
export function readConfig<S extends Record<string, ValidatorSpec<unknown>>>(
  spec: S,
  env: NodeJS.ProcessEnv = process.env,
): CleanedEnv<S> {
  return cleanEnv(env, spec, {
    reporter({ errors }) {
      const problems = Object.entries(errors).map(([name, error]) => `${name}: ${error?.message ?? "invalid"}`);
      if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
    },
  });
}

/**
 * Deadlines both modes share: an upstream call, a call between services, and a PSBC call end to end. The
 * appointment's lock wait and PSBC call (3 s each) fit in the last; its voucher call gets what they leave of it
 * (a cancel's void, what they leave after keeping a PSBC call's time for the cancel after it).
 */
export const DEFAULT_TIMEOUTS = { upstreamMs: 3000, rpcMs: 8000, gatewayRpcMs: 12000 } as const;

/**
 * After SIGTERM a process that has not stopped within SHUTDOWN_DELAY_MS + SHUTDOWN_GRACE_MS + this (its servers'
 * drain done, then its workers, consumers, relay and connections) exits anyway: pods' terminationGracePeriodSeconds
 * must exceed the sum, or the kubelet's SIGKILL comes first.
 */
export const SHUTDOWN_WATCHDOG_MARGIN_MS = 5_000;

export const processSpec = {
  LOG_LEVEL: str({ default: "info", choices: ["trace", "debug", "info", "warn", "error", "fatal", "silent"] }),
  HOST: str({ default: "0.0.0.0", desc: "address the servers bind" }),
  METRICS_PORT: port({ default: 9464, desc: "Prometheus /metrics" }),
  SHUTDOWN_DELAY_MS: num({ default: 0, desc: "after SIGTERM: not ready, still serving, this long (Kubernetes: 5000)" }),
  SHUTDOWN_GRACE_MS: num({ default: 20_000, desc: "then calls in flight get this long" }),
  RPC_TRANSPORT: str({
    default: DEFAULT_RPC_TRANSPORT,
    choices: RPC_TRANSPORTS,
    desc: "the calls between services: grpc-js (gRPC) or connect-node (Connect protocol; its server also speaks gRPC and gRPC-Web); the same in every process",
  }),
};

const PLATFORM_INSTANCE = str({
  default: "",
  desc: "this deployment's name (the chart: <namespace>/<release>), claimed on the NATS streams, the schemas and the Redis database: a service or `migrate` refuses those another deployment claimed; empty: no check",
});

/** The migration command: the database (and the deployment it migrates for). */
export const migrateSpec = {
  LOG_LEVEL: processSpec.LOG_LEVEL,
  DATABASE_URL: url({ desc: "postgres://user@host:5432/db" }),
  PLATFORM_INSTANCE,
};

/** What a service process of the cluster needs: its database and the event bus (required, no fallback). */
export const clusterSpec = {
  ...processSpec,
  DATABASE_URL: url({ desc: "postgres://user@host:5432/db" }),
  DATABASE_POOL_SIZE: num({ default: 10 }),
  NATS_URL: url({ desc: "nats://host:4222" }),
  PLATFORM_INSTANCE,
  OUTBOX_STALL_MS: num({ default: 30_000, desc: "an outbox relay failing to publish this long logs an error and makes its service not ready" }),
};

/** What a service that declares `needs: { redis: true }` reads besides its own spec (its lock service). */
export const redisSpec = {
  REDIS_URL: url({ desc: "redis://host:6379" }),
};

/**
 * The gateway's HTTP limits: a client has this long to send a request's headers and all of it; an idle
 * keep-alive connection is closed after `keepAliveTimeoutMs`, above the usual load balancer idle timeout (60 s)
 * so the balancer, not we, closes it and never sends on a connection we are closing.
 */
export const DEFAULT_GATEWAY_HTTP = { requestTimeoutMs: 10_000, headersTimeoutMs: 10_000, keepAliveTimeoutMs: 72_000, bodyLimitBytes: 16 * 1024 } as const;

export const gatewaySpec = {
  PORT: port({ default: 8080 }),
  ORDER_SERVICE_URL: url({ default: "http://127.0.0.1:50051" }),
  RECONCILIATION_SERVICE_URL: url({ default: "http://127.0.0.1:50054" }),
  GATEWAY_RPC_TIMEOUT_MS: num({ default: DEFAULT_TIMEOUTS.gatewayRpcMs, desc: "deadline of a PSBC call end to end; above the order service's own" }),
  GATEWAY_REQUEST_TIMEOUT_MS: num({ default: DEFAULT_GATEWAY_HTTP.requestTimeoutMs, desc: "time to receive a whole request; then 408" }),
  GATEWAY_HEADERS_TIMEOUT_MS: num({ default: DEFAULT_GATEWAY_HTTP.headersTimeoutMs, desc: "time to receive a request's headers (at most the request timeout); then 408" }),
  GATEWAY_KEEP_ALIVE_TIMEOUT_MS: num({ default: DEFAULT_GATEWAY_HTTP.keepAliveTimeoutMs, desc: "idle keep-alive connections are closed after this; above the load balancer's idle timeout" }),
  GATEWAY_BODY_LIMIT_BYTES: num({ default: DEFAULT_GATEWAY_HTTP.bodyLimitBytes, desc: "larger request bodies are a parameter error" }),
  GATEWAY_TRUSTED_PROXIES: addressList({
    default: [],
    desc: "addresses/CIDRs of the proxies (the ingress controller) whose X-Forwarded-For names the client; empty: none, the peer is the client",
  }),
  // The WHALE back office (/whale/erp) is served when VOUCHER_SERVICE_URL is set; Blue Brothers' redemption
  // callbacks when all three are.
  VOUCHER_SERVICE_URL: url({ default: undefined, desc: "the voucher service: the WHALE back office, and Blue Brothers' redemption notices" }),
  BLUE_BROTHERS_APP_ID: str({ default: undefined, desc: "the app id Blue Brothers signs its notices with" }),
  BLUE_BROTHERS_APP_SECRET: str({ default: undefined, desc: "the app secret Blue Brothers signs its notices with" }),
};
