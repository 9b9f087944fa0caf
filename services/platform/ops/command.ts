// The shape of an operator command: each service's commands live in a module of their own beside this one
// (order, notify, reconciliation), and cli.ts lists them.
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import { adminAuthorization } from "../../common/admin-credential.js";

/** A command line the command cannot run: the CLI prints it with the usage and exits 2. */
export class UsageError extends Error {}

/** An error's message with its cause's: fetch's "fetch failed" says why only there (ECONNREFUSED, …). */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
}

export type OpsService = "order" | "notify" | "reconciliation" | "voucher";

export interface OpsContext {
  /** A client of a service at its URL variable (ORDER_SERVICE_URL, ...; the embedded ports by default). */
  client<S extends DescService>(service: OpsService, schema: S): Client<S>;
  /** The call options of an admin RPC: ADMIN_TOKEN as the bearer token (a UsageError without it). */
  admin(): { headers: Record<string, string> };
  /** Prints one JSON value. */
  print(value: unknown): void;
  /** Raw output (a CSV export), resolved once the output can take more: a slow reader holds the stream back. */
  write(text: string): Promise<void>;
  /** Progress for the operator (stderr); `tty` says whether it is a terminal (a bar) or a log (plain lines). */
  progress: { tty: boolean; show(text: string): void };
  /** Reads a file an argument names (branches import). */
  readFile(path: string): Promise<string>;
  /** The CLI's environment (the gateway's URL, the ERP app's credentials of `whale call`). */
  env: NodeJS.ProcessEnv;
  /** HTTP to the gateway (`whale call`). */
  fetch: typeof fetch;
}

export interface OpsCommand {
  /** The words that select it, e.g. ["branches", "import"]. */
  words: string[];
  usage: string;
  /** Options it takes (node:util parseArgs): each a string option, unless listed in `flags`. */
  options?: string[];
  flags?: string[];
  /** How many arguments it takes after its words: one more is a usage error, not silently dropped. */
  positionals: number;
  run(input: { positionals: string[]; values: Record<string, string | boolean | undefined> }, context: OpsContext): Promise<void>;
}

export function clientsOver(transportOf: (service: OpsService) => Transport) {
  return <S extends DescService>(service: OpsService, schema: S): Client<S> => createClient(schema, transportOf(service));
}

export function adminOptions(token: string | undefined): { headers: Record<string, string> } {
  if (!token) throw new UsageError("this command is an admin RPC: set ADMIN_TOKEN to the services' admin token (embedded: the one `ADMIN_TOKEN=… npm start` was given)");
  return { headers: adminAuthorization(token) };
}

/** `--limit N`: 0 (the service's default) when absent, else a whole number from 1 to `max`. */
export function optionalLimit(values: Record<string, string | boolean | undefined>, max: number): number {
  if (values.limit === undefined) return 0;
  const limit = typeof values.limit === "string" && /^\d+$/.test(values.limit) ? Number(values.limit) : 0;
  if (limit < 1 || limit > max) throw new UsageError(`--limit is 1 to ${max}`);
  return limit;
}

/** A string option that must be there. */
export function required(values: Record<string, string | boolean | undefined>, name: string): string {
  const value = values[name];
  if (typeof value !== "string" || value === "") throw new UsageError(`--${name} is required`);
  return value;
}
