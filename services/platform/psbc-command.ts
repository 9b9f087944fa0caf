// `npm run psbc -- <operation> <rights code> [options]` (psbc-cli.ts): builds a PSBC contract request the way the bank does
// (AES/CBC/PKCS5Padding, Base64), posts it to the gateway and prints the answer. Exit codes: 0 the contract's
// success (HTTP 200, code 0), 1 any other answer or no answer, 2 a usage error.
import { parseArgs } from "node:util";
import { url } from "envalid";
import { aes16, readConfig, ConfigError } from "../common/config.js";
import { encryptRightsRequest } from "../order/psbc/rights-request.js";
import { SANDBOX_AES } from "../sandbox/credentials.js";
import { describeError } from "./ops/command.js";

/** The contract's paths (`psbc-openapi.yaml`), by the operation's name on the command line. */
const paths: Record<string, string> = {
  appointment: "/api/v1/service/appointment",
  cancel: "/api/v1/service/cancel",
  detail: "/api/v1/service/detail",
  "expired-points": "/api/v1/order/expired-points",
};

const usage = `usage: npm run psbc -- <${Object.keys(paths).join("|")}> <rights code> [--type 310001] [--mac CUSTOMER]
       [--channel 12] [--tran-chnl 12] [--inst-type 01] [--province 100000] [--back-url URL]
  GATEWAY_URL (default http://127.0.0.1:8080), SANDBOX_AES_KEY and SANDBOX_AES_IV (the README's defaults) apply.
  Exit 0 on the contract's success (code 0), 1 on any other answer or none, 2 on a usage error.`;

/** The gateway's whole answer, a slow one included: the order service's own deadline is shorter. */
const REQUEST_TIMEOUT_MS = 20_000;

export interface PsbcIo {
  env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Runs one command line; resolves to the exit code. */
export async function runPsbc(argv: string[], io: PsbcIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        type: { type: "string", default: "310001" },
        mac: { type: "string", default: "sandbox-customer-0001" },
        channel: { type: "string", default: "12" },
        "tran-chnl": { type: "string", default: "12" },
        "inst-type": { type: "string", default: "01" },
        province: { type: "string", default: "100000" },
        "back-url": { type: "string", default: "https://mobile.psbc.com/back" },
      },
    });
  } catch (err) {
    io.stderr(`${err instanceof Error ? err.message : String(err)}\n${usage}\n`);
    return 2;
  }
  const { positionals, values } = parsed;
  const [operation, code, ...extra] = positionals;
  const path = operation ? paths[operation] : undefined;
  if (!path || !code || extra.length > 0) {
    io.stderr(`${usage}\n`);
    return 2;
  }
  try {
    const env = readConfig(
      {
        GATEWAY_URL: url({ default: "http://127.0.0.1:8080" }),
        SANDBOX_AES_KEY: aes16({ default: SANDBOX_AES.key }),
        SANDBOX_AES_IV: aes16({ default: SANDBOX_AES.iv }),
      },
      io.env,
    );
    const body = {
      type: values.type,
      request: encryptRightsRequest({ type: values.type, code, mac: values.mac }, { key: env.SANDBOX_AES_KEY, iv: env.SANDBOX_AES_IV }),
      channel: values.channel,
      tranChnl: values["tran-chnl"],
      backUrl: values["back-url"],
      instType: values["inst-type"],
      provinceInstNo: values.province,
    };
    const target = new URL(path, env.GATEWAY_URL).toString();
    io.stdout(`POST ${target}\n${JSON.stringify(body, null, 2)}\n`);
    const response = await fetch(target, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      // Not JSON (a proxy's error page): shown as it came.
    }
    io.stdout(`HTTP ${response.status}\n${answer === undefined ? text : JSON.stringify(answer, null, 2)}\n`);
    const succeeded = response.ok && typeof answer === "object" && answer !== null && (answer as { code?: unknown }).code === 0;
    return succeeded ? 0 : 1;
  } catch (err) {
    io.stderr(`${err instanceof ConfigError ? err.message : `psbc failed: ${describeError(err)}`}\n`);
    return err instanceof ConfigError ? 2 : 1;
  }
}
