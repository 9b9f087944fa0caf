// `npm run ops -- <command>`: the operator's commands against the services (embedded or cluster), by their URL
// variables. Exit codes: 0 done, 1 the call failed, 2 a usage error.
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { DEFAULT_TIMEOUTS } from "../../common/config.js";
import { rpcTransport } from "../../common/rpc-client.js";
import { adminOptions, clientsOver, describeError, UsageError, type OpsCommand, type OpsContext, type OpsService } from "./command.js";
import { notifyCommands } from "./notify-commands.js";
import { orderCommands } from "./order-commands.js";
import { reconciliationCommands } from "./reconciliation-commands.js";
import { bulkCommands } from "./bulk-commands.js";
import { deadLetterCommands } from "./dead-letter-commands.js";
import { whaleCommands } from "./whale-commands.js";

export const opsCommands: OpsCommand[] = [...orderCommands, ...notifyCommands, ...reconciliationCommands, ...whaleCommands, ...bulkCommands, ...deadLetterCommands];

/** Each service's URL variable and its embedded default (its default port). */
export const SERVICE_URLS: Record<OpsService, { variable: string; default: string }> = {
  order: { variable: "ORDER_SERVICE_URL", default: "http://127.0.0.1:50051" },
  notify: { variable: "NOTIFY_SERVICE_URL", default: "http://127.0.0.1:50053" },
  reconciliation: { variable: "RECONCILIATION_SERVICE_URL", default: "http://127.0.0.1:50054" },
  voucher: { variable: "VOUCHER_SERVICE_URL", default: "http://127.0.0.1:50052" },
};

export function usage(): string {
  return [
    "usage: npm run ops -- <command> [options]",
    ...opsCommands.map((command) => `  ${command.usage}`),
    "",
    "  ORDER_SERVICE_URL, NOTIFY_SERVICE_URL, RECONCILIATION_SERVICE_URL, VOUCHER_SERVICE_URL: the services (default: the embedded ports);",
    "  ADMIN_TOKEN: the services' admin token, for the commands marked (admin);",
    "  GATEWAY_URL (default http://127.0.0.1:8080), ERP_APP_ID and ERP_APP_SECRET (default: the embedded erp-sandbox): `whale call`'s;",
    "  NATS_URL: the cluster's NATS, for `dead-letters`.",
  ].join("\n");
}

export interface OpsIo {
  env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
  /** stdout honouring backpressure (resolves when it drained); `stdout` unless given. */
  write?(text: string): Promise<void>;
  /** Whether stderr is a terminal (progress bars); false unless given. */
  stderrIsTTY?: boolean;
  /** The transport to a service; gRPC to its URL unless a test brings its own. */
  transport?(service: OpsService, url: string): Transport;
  /** HTTP to the gateway; the global fetch unless a test brings its own. */
  fetch?: typeof fetch;
}

/** Runs one command line; resolves to the exit code. */
export async function runOps(argv: string[], io: OpsIo): Promise<number> {
  if (argv.length === 0 || argv.includes("--help") || argv.includes("-h")) {
    (argv.length === 0 ? io.stderr : io.stdout)(`${usage()}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  const command = opsCommands.find((candidate) => candidate.words.every((word, index) => argv[index] === word));
  if (!command) {
    io.stderr(`unknown command: ${argv.join(" ")}\n${usage()}\n`);
    return 2;
  }
  const transportOf = (service: OpsService): Transport => {
    const url = io.env[SERVICE_URLS[service].variable] || SERVICE_URLS[service].default;
    return io.transport ? io.transport(service, url) : rpcTransport(url, { timeoutMs: DEFAULT_TIMEOUTS.gatewayRpcMs });
  };
  const context: OpsContext = {
    client: clientsOver(transportOf),
    admin: () => adminOptions(io.env.ADMIN_TOKEN),
    print: (value) => io.stdout(`${JSON.stringify(value, null, 2)}\n`),
    write: io.write ?? (async (text) => io.stdout(text)),
    progress: { tty: io.stderrIsTTY ?? false, show: io.stderr },
    readFile: (path) => readFile(path, "utf8"),
    env: io.env,
    fetch: io.fetch ?? fetch,
  };
  try {
    const { positionals, values } = parseArgs({
      args: argv.slice(command.words.length),
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries([
        ...(command.options ?? []).map((name) => [name, { type: "string" as const }]),
        ...(command.flags ?? []).map((name) => [name, { type: "boolean" as const }]),
      ]),
    });
    const extra = positionals[command.positionals];
    if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
    // No option is `multiple`: every value is a string or a boolean.
    await command.run({ positionals, values: values as Record<string, string | boolean | undefined> }, context);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err instanceof TypeError && "code" in err && String(err.code).startsWith("ERR_PARSE_ARGS"))) {
      io.stderr(`${err.message}\nusage: npm run ops -- ${command.usage}\n`);
      return 2;
    }
    if (err instanceof ConnectError) {
      io.stderr(`${command.words.join(" ")} failed: [${Code[err.code]}] ${err.rawMessage}\n`);
      return 1;
    }
    io.stderr(`${command.words.join(" ")} failed: ${describeError(err)}\n`);
    return 1;
  }
}
