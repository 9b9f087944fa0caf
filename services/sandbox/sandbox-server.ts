import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { listen } from "../common/listen.js";
import type { Logger } from "../common/logger.js";
import { SIGNATURE_HEADERS, verifySignature } from "../common/signing.js";
import { Faults, InvalidFaultPlan } from "./faults.js";

/** One HTTP answer of a simulator. */
export interface Reply {
  status: number;
  body: unknown;
}

/** Where a simulator listens and the credentials its callers sign with: what every sandbox's options start with. */
export interface SandboxEndpoint {
  /** 0 or absent: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  appId: string;
  appSecret: string;
  logger?: Logger;
}

export interface SandboxServerOptions<Op extends string> {
  name: string;
  /** The sandbox's own options: only their endpoint fields are read. */
  endpoint: SandboxEndpoint;
  faults: Faults<Op>;
  /** Incremented for every call of an operation, faulted or not, before the signature is checked. */
  calls: Record<Op, number>;
  paths: { readonly [K in Op]: string };
  /** How the platform answers a bad signature, a body that is not a JSON object, and its "busy" error. */
  replies: { signatureInvalid: Reply; parameterInvalid: Reply; busy: Reply };
  /** The platform's logic for a verified call. */
  handle(op: Op, body: Record<string, unknown>): Promise<Reply>;
  /** Extra unsigned test-control endpoints (`POST <path>` with a JSON body). */
  control?: Record<string, (body: unknown) => Promise<Reply>>;
  /** Other pages, by method and path (a POST's body is ignored); undefined when there is no such page. */
  page?(method: string, path: string): Promise<HtmlPage> | undefined;
}

/** A page for a person, as the platform would show it. */
export interface HtmlPage {
  status: number;
  html: string;
}

export interface SandboxServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1 << 20;

/**
 * The HTTP plumbing both simulators share: routes by path, counts calls, applies the fault plan, verifies the
 * signature, and serves the control endpoints (`POST/DELETE /_sandbox/faults`, `GET /_sandbox/health`).
 * No per-request allocations beyond the body keep it fast enough for benchmarks.
 */
export async function startSandboxServer<Op extends string>(options: SandboxServerOptions<Op>): Promise<SandboxServer> {
  const { faults, calls, replies } = options;
  const { logger, host = "127.0.0.1", port: wantedPort = 0 } = options.endpoint;
  const credentials = { appId: options.endpoint.appId, appSecret: options.endpoint.appSecret };
  const opByPath = new Map<string, Op>(Object.entries<string>(options.paths).map(([op, path]) => [path, op as Op]));
  /** Delayed answers, cleared on close so a closed sandbox leaves no timers behind. */
  const timers = new Set<NodeJS.Timeout>();

  const control: Record<string, (body: unknown) => Promise<Reply>> = {
    "/_sandbox/faults": async (body) => {
      faults.setFromJson(body);
      return { status: 200, body: { ok: true } };
    },
    ...options.control,
  };

  /** What the platform answers a call: signature first, then the body, then its logic. */
  const respond = async (op: Op, req: IncomingMessage, raw: Buffer): Promise<Reply> => {
    const signed = verifySignature(
      {
        appId: header(req, SIGNATURE_HEADERS.appId),
        timestamp: header(req, SIGNATURE_HEADERS.timestamp),
        nonce: header(req, SIGNATURE_HEADERS.nonce),
        signature: header(req, SIGNATURE_HEADERS.signature),
        body: raw,
      },
      credentials,
    );
    if (!signed) {
      logger?.warn({ sandbox: options.name, op, appId: header(req, SIGNATURE_HEADERS.appId) }, "sandbox: bad signature");
      return replies.signatureInvalid;
    }
    const body = parseObject(raw);
    if (!body) return replies.parameterInvalid;
    try {
      return await options.handle(op, body);
    } catch (err) {
      logger?.error({ err, sandbox: options.name, op }, "sandbox handler failed");
      return { status: 500, body: { error: "sandbox handler failed" } };
    }
  };

  const onOperation = (op: Op, req: IncomingMessage, res: ServerResponse, raw: Buffer): void => {
    calls[op] += 1;
    const fault = faults.take(op);
    if (!fault) {
      void respond(op, req, raw).then((reply) => send(res, reply));
      return;
    }
    logger?.debug({ sandbox: options.name, op, fault: fault.mode }, "sandbox: injecting fault");
    switch (fault.mode) {
      case "fail":
        send(res, replies.busy);
        return;
      case "reject":
        send(res, replies.parameterInvalid);
        return;
      case "delay": {
        const timer = setTimeout(() => {
          timers.delete(timer);
          void respond(op, req, raw).then((reply) => send(res, reply));
        }, fault.delayMs);
        timers.add(timer);
        return;
      }
      case "timeout":
        // The call takes effect; its answer is lost. The client aborts, or close() destroys the connection.
        void respond(op, req, raw);
        return;
    }
  };

  const server = createServer({ keepAlive: true }, (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    const method = req.method ?? "GET";
    if (method === "POST") {
      const op = opByPath.get(path);
      if (op !== undefined) {
        readBody(req, res, (raw) => onOperation(op, req, res, raw));
        return;
      }
      const handler = control[path];
      if (handler) {
        readBody(req, res, (raw) => void runControl(handler, raw, logger).then((reply) => send(res, reply)));
        return;
      }
    } else if (method === "DELETE" && path === "/_sandbox/faults") {
      faults.clear();
      send(res, { status: 200, body: { ok: true } });
      return;
    } else if (method === "GET" && path === "/_sandbox/health") {
      send(res, { status: 200, body: { status: "ok", calls } });
      return;
    }
    const page = options.page?.(method, path);
    if (page) {
      req.resume(); // a form's body carries nothing a page needs
      void page.then(
        (shown) => sendHtml(res, shown),
        (err: unknown) => {
          logger?.error({ err, sandbox: options.name, path }, "sandbox page failed");
          send(res, { status: 500, body: { error: "sandbox page failed" } });
        },
      );
      return;
    }
    send(res, { status: 404, body: { error: `no route ${method} ${path}` } });
  });
  // Longer than undici's idle timeout, so the client, not the server, retires idle connections.
  server.keepAliveTimeout = 10_000;

  const port = await listen(server, wantedPort, host);

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost(host)}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        // Held "timeout" calls and idle keep-alive connections would otherwise keep close() waiting.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.destroyed) return;
  const payload = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(payload),
  });
  res.end(payload);
}

function sendHtml(res: ServerResponse, page: HtmlPage): void {
  if (res.destroyed) return;
  res.writeHead(page.status, { "content-type": "text/html; charset=utf-8", "content-length": Buffer.byteLength(page.html) });
  res.end(page.html);
}

async function runControl(handler: (body: unknown) => Promise<Reply>, raw: Buffer, logger: Logger | undefined): Promise<Reply> {
  try {
    return await handler(raw.length === 0 ? {} : JSON.parse(raw.toString("utf8")));
  } catch (err) {
    if (err instanceof InvalidFaultPlan || err instanceof SandboxControlError || err instanceof SyntaxError) {
      return { status: 400, body: { error: err.message } };
    }
    logger?.error({ err }, "sandbox control failed");
    return { status: 500, body: { error: "sandbox control failed" } };
  }
}

/** A control request the sandbox cannot apply (unknown code, bad status...): answered with HTTP 400. */
export class SandboxControlError extends Error {}

function readBody(req: IncomingMessage, res: ServerResponse, done: (raw: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      send(res, { status: 413, body: { error: "body too large" } });
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => done(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
  req.on("error", () => undefined); // a client that aborted mid-body: nothing to answer
}

function parseObject(raw: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(raw.toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A wildcard bind address is not an address a client can use; IPv6 literals need brackets in a URL. */
function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "::" || host === "") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

/** The named fields of a request body when each is a non-empty string of at most `maxLength`; else undefined. */
export function stringFields<K extends string>(
  body: Record<string, unknown>,
  names: readonly K[],
  maxLength = 256,
): Record<K, string> | undefined {
  const fields = {} as Record<K, string>;
  for (const name of names) {
    const value = body[name];
    if (typeof value !== "string" || value.length === 0 || value.length > maxLength) return undefined;
    fields[name] = value;
  }
  return fields;
}
