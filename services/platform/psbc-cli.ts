import { parseArgs } from "node:util";
import { aes16, readConfig, ConfigError } from "../common/config.js";
import { encryptRightsRequest } from "../order/psbc/rights-request.js";
import { url } from "envalid";
import { SANDBOX_AES } from "../sandbox/credentials.js";
import { describeError } from "./ops/command.js";

/**
 * `npm run psbc -- <operation> <rights code> [options]`: builds a PSBC contract request the way the bank does
 * (AES/CBC/PKCS5Padding, Base64), posts it to the gateway and prints the answer.
 */
const paths: Record<string, string> = {
  appointment: "/api/v1/service/appointment",
  cancel: "/api/v1/service/cancel",
  detail: "/api/v1/service/detail",
  "expired-points": "/api/v1/order/expired-points",
};

const usage = `usage: npm run psbc -- <${Object.keys(paths).join("|")}> <rights code> [--type 310001] [--mac CUSTOMER]
       [--channel 12] [--tran-chnl 12] [--inst-type 01] [--province 100000] [--back-url URL]
  GATEWAY_URL (default http://127.0.0.1:8080), SANDBOX_AES_KEY and SANDBOX_AES_IV (the README's defaults) apply.`;

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
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
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${usage}\n`);
    process.exit(2);
  }
  const { positionals, values } = parsed;
  const [operation, code] = positionals;
  const path = operation ? paths[operation] : undefined;
  if (!path || !code) {
    process.stderr.write(`${usage}\n`);
    process.exit(2);
  }
  const env = readConfig({
    GATEWAY_URL: url({ default: "http://127.0.0.1:8080" }),
    SANDBOX_AES_KEY: aes16({ default: SANDBOX_AES.key }),
    SANDBOX_AES_IV: aes16({ default: SANDBOX_AES.iv }),
  });
  const body = {
    type: values.type,
    request: encryptRightsRequest({ type: values.type, code, mac: values.mac }, { key: env.SANDBOX_AES_KEY, iv: env.SANDBOX_AES_IV }),
    channel: values.channel,
    tranChnl: values["tran-chnl"],
    backUrl: values["back-url"],
    instType: values["inst-type"],
    provinceInstNo: values.province,
  };
  process.stdout.write(`POST ${env.GATEWAY_URL}${path}\n${JSON.stringify(body, null, 2)}\n`);
  const response = await fetch(`${env.GATEWAY_URL}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await response.text();
  let shown = text;
  try {
    shown = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    // not JSON: show it as it came
  }
  process.stdout.write(`HTTP ${response.status}\n${shown}\n`);
  process.exitCode = response.ok ? 0 : 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof ConfigError ? err.message : `psbc failed: ${describeError(err)}`}\n`);
  process.exit(1);
});
