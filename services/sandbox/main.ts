/**
 * `node dist/services/sandbox/main.js`: the upstream simulators in one process, for cluster-mode runs and
 * benchmarks. Test equipment, never deployed as the product; its state is in memory.
 *
 * Environment (defaults in brackets):
 * - `HOST` [0.0.0.0], `LOG_LEVEL` [info]
 * - `PSBC_SANDBOX_PORT` [9101], `PSBC_SANDBOX_APP_ID` / `PSBC_SANDBOX_APP_SECRET` [sandbox-psbc / sandbox-psbc-secret]
 * - `BLUE_BROTHERS_SANDBOX_PORT` [9102], `BLUE_BROTHERS_SANDBOX_APP_ID` / `BLUE_BROTHERS_SANDBOX_APP_SECRET`
 *   [sandbox-bb / sandbox-bb-secret], `BLUE_BROTHERS_SANDBOX_PUBLIC_URL` [the address it listens on]: the base
 *   of the voucher URLs customers open.
 * - `SMS_SANDBOX_PORT` [9103], `SMS_SANDBOX_APP_ID` / `SMS_SANDBOX_APP_SECRET` [sandbox-sms / sandbox-sms-secret]
 * - `ESB_SANDBOX_PORT` [9104], `ESB_SANDBOX_APP_ID` / `ESB_SANDBOX_APP_SECRET` [sandbox-esb / sandbox-esb-secret]: an ESB send
 *   channel's makeCodeURL (registered per send channel by the ERP; WHALE's ESB credentials are ESB_APP_ID / ESB_APP_SECRET).
 * The services point at them with PSBC_BASE_URL / PSBC_APP_ID / PSBC_APP_SECRET and the BLUE_BROTHERS_* and SMS_* twins.
 */
import { port, str, url } from "envalid";
import { ConfigError, processSpec, readConfig } from "../common/config.js";
import { createLogger } from "../common/logger.js";
import { SANDBOX_BLUE_BROTHERS, SANDBOX_ESB, SANDBOX_PORTS, SANDBOX_PSBC, SANDBOX_SMS } from "./credentials.js";
import { startEsbSandbox } from "./esb-sandbox.js";
import { startBlueBrothersSandbox } from "./blue-brothers-sandbox.js";
import { startPsbcSandbox } from "./psbc-sandbox.js";
import { startSmsSandbox } from "./sms-sandbox.js";

const spec = {
  ...processSpec,
  PSBC_SANDBOX_PORT: port({ default: SANDBOX_PORTS.psbc }),
  PSBC_SANDBOX_APP_ID: str({ default: SANDBOX_PSBC.appId }),
  PSBC_SANDBOX_APP_SECRET: str({ default: SANDBOX_PSBC.appSecret }),
  BLUE_BROTHERS_SANDBOX_PORT: port({ default: SANDBOX_PORTS.blueBrothers }),
  BLUE_BROTHERS_SANDBOX_APP_ID: str({ default: SANDBOX_BLUE_BROTHERS.appId }),
  BLUE_BROTHERS_SANDBOX_APP_SECRET: str({ default: SANDBOX_BLUE_BROTHERS.appSecret }),
  SMS_SANDBOX_PORT: port({ default: SANDBOX_PORTS.sms }),
  SMS_SANDBOX_APP_ID: str({ default: SANDBOX_SMS.appId }),
  SMS_SANDBOX_APP_SECRET: str({ default: SANDBOX_SMS.appSecret }),
  ESB_SANDBOX_PORT: port({ default: SANDBOX_PORTS.esb }),
  ESB_SANDBOX_APP_ID: str({ default: SANDBOX_ESB.appId }),
  ESB_SANDBOX_APP_SECRET: str({ default: SANDBOX_ESB.appSecret }),
  BLUE_BROTHERS_SANDBOX_PUBLIC_URL: url({ default: undefined, desc: "base of the voucher URLs, e.g. http://sandbox:9102" }),
};

function config() {
  try {
    return readConfig(spec);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`sandbox: ${err.message}\n`);
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const env = config();
  const logger = createLogger("sandbox", env.LOG_LEVEL);
  const psbc = await startPsbcSandbox({
    host: env.HOST,
    port: env.PSBC_SANDBOX_PORT,
    appId: env.PSBC_SANDBOX_APP_ID,
    appSecret: env.PSBC_SANDBOX_APP_SECRET,
    logger,
  });
  const blueBrothers = await startBlueBrothersSandbox({
    host: env.HOST,
    port: env.BLUE_BROTHERS_SANDBOX_PORT,
    appId: env.BLUE_BROTHERS_SANDBOX_APP_ID,
    appSecret: env.BLUE_BROTHERS_SANDBOX_APP_SECRET,
    publicUrl: env.BLUE_BROTHERS_SANDBOX_PUBLIC_URL,
    logger,
  }).catch(async (err: unknown) => {
    await psbc.close();
    throw err;
  });
  const sms = await startSmsSandbox({
    host: env.HOST,
    port: env.SMS_SANDBOX_PORT,
    appId: env.SMS_SANDBOX_APP_ID,
    appSecret: env.SMS_SANDBOX_APP_SECRET,
    logger,
  }).catch(async (err: unknown) => {
    await Promise.all([psbc.close(), blueBrothers.close()]);
    throw err;
  });
  const esb = await startEsbSandbox({ host: env.HOST, port: env.ESB_SANDBOX_PORT, appId: env.ESB_SANDBOX_APP_ID, appSecret: env.ESB_SANDBOX_APP_SECRET, logger }).catch(
    async (err: unknown) => {
      await Promise.all([psbc.close(), blueBrothers.close(), sms.close()]);
      throw err;
    },
  );
  logger.info({ psbc: psbc.url, blueBrothers: blueBrothers.url, sms: sms.url, esb: esb.url }, "sandboxes running");

  const shutdown = (signal: string): void => {
    logger.info({ signal }, "sandboxes shutting down");
    void Promise.all([psbc.close(), blueBrothers.close(), sms.close(), esb.close()]).then(() => process.exit(0));
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

await main();
