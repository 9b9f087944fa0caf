import { createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { describeError, UsageError } from "./ops/command.js";

/**
 * `npm run make-code -- --channel <saleChannelId> --key <channel private key PEM file> [--whale-key <Base64 DER>]
 * (--body <file> | --ticket <templateId> [--order <id>] [--mobile <phone>] [--num <n>])`: signs a make-code
 * request as a sale channel does (SHA256withRSA over the exact body, Base64 in X-Signature), posts it to the
 * gateway, prints the answer and, with --whale-key (the whalePublicKey saleChanneInsert answered), checks WHALE's
 * signature of it. GATEWAY_URL (default http://127.0.0.1:8080) applies. Exit 0 for returnCode 00, 1 otherwise
 * (the call failed, or a file or key would not read), 2 a usage error.
 *
 * With --order, the body is the same on every run (requestId and saleChannelItemId derive from it), so running it
 * again repeats the order and answers the same codes; without it, every run is a new order.
 */
export const usage = `usage: npm run make-code -- --channel ID --key channel-private.pem [--whale-key BASE64_DER]
       (--body request.json | --ticket TEMPLATE_ID [--order SALE_CHANNEL_ORDER_ID] [--mobile 13524161800] [--num 1])
  GATEWAY_URL (default http://127.0.0.1:8080) applies.`;

export interface MakeCodeIo {
  env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
  fetch?: typeof fetch;
  /** Now, in ms (the order id and request id of a run without --order). */
  now?: () => number;
}


/** Runs one command line; resolves to the exit code. */
export async function runMakeCode(argv: string[], io: MakeCodeIo): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        options: {
          channel: { type: "string" },
          key: { type: "string" },
          "whale-key": { type: "string" },
          body: { type: "string" },
          ticket: { type: "string" },
          order: { type: "string" },
          mobile: { type: "string" },
          num: { type: "string", default: "1" },
        },
      });
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
    const { values } = parsed;
    if (!values.channel || !values.key || (!values.body && !values.ticket)) throw new UsageError("--channel, --key and --body or --ticket are required");
    if (!values.body && (!/^\d+$/.test(values.ticket ?? "") || !/^\d+$/.test(values.num))) throw new UsageError("--ticket and --num are numbers");
    const now = (io.now ?? Date.now)();
    const order = values.order ?? `SO${now}`;
    const raw = values.body
      ? await readFile(values.body, "utf8")
      : JSON.stringify({
          saleChannelOrderId: order,
          requestId: values.order ?? String(now),
          ...(values.mobile ? { notifyType: { mobilePhone: values.mobile } } : {}),
          item: { saleChannelItemId: `I${values.order ?? now}`, commissionDate: "1", validDays: 10, ticketId: Number(values.ticket), codeNum: Number(values.num) },
        });
    const signature = sign("sha256", Buffer.from(raw), createPrivateKey(await readFile(values.key))).toString("base64");
    const whaleKey = values["whale-key"]
      ? createPublicKey({ key: Buffer.from(values["whale-key"], "base64"), format: "der", type: "spki" })
      : undefined;
    const gateway = (io.env.GATEWAY_URL || "http://127.0.0.1:8080").replace(/\/+$/, "");
    const response = await (io.fetch ?? fetch)(`${gateway}/whale/channel/makeCode`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-sale-channel-id": values.channel, "x-signature": signature },
      body: raw,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    let answer: { returnCode?: string };
    try {
      answer = JSON.parse(text) as { returnCode?: string };
    } catch {
      io.stderr(`HTTP ${response.status}, not a make-code answer (is GATEWAY_URL the gateway?):\n${text.slice(0, 500)}\n`);
      return 1;
    }
    io.stdout(`${JSON.stringify(answer, null, 2)}\n`);
    if (whaleKey) {
      const answerSignature = response.headers.get("x-signature");
      const signed = answerSignature !== null && verify("sha256", Buffer.from(text), whaleKey, Buffer.from(answerSignature, "base64"));
      io.stderr(signed ? "answer signature: verified with the whalePublicKey\n" : "answer signature: MISSING OR WRONG\n");
      if (!signed) return 1;
    }
    return answer.returnCode === "00" ? 0 : 1;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`${err.message}\n${usage}\n`);
      return 2;
    }
    io.stderr(`make-code failed: ${describeError(err)}\n`);
    return 1;
  }
}
