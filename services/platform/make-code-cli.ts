import { createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

/**
 * `npm run make-code -- --channel <saleChannelId> --key <channel private key PEM file> [--whale-key <Base64 DER>]
 * (--body <file> | --ticket <templateId> [--order <id>] [--mobile <phone>] [--num <n>])`: signs a make-code
 * request as a sale channel does (SHA256withRSA over the exact body, Base64 in X-Signature), posts it to the
 * gateway, prints the answer and, with --whale-key (the whalePublicKey saleChanneInsert answered), checks WHALE's
 * signature of it. GATEWAY_URL (default http://127.0.0.1:8080) applies. Exit 0 for returnCode 00, 1 otherwise.
 */
const usage = `usage: npm run make-code -- --channel ID --key channel-private.pem [--whale-key BASE64_DER]
       (--body request.json | --ticket TEMPLATE_ID [--order SALE_CHANNEL_ORDER_ID] [--mobile 13524161800] [--num 1])`;

async function main(): Promise<void> {
  const { values } = parseArgs({
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
  if (!values.channel || !values.key || (!values.body && !values.ticket)) {
    process.stderr.write(`${usage}\n`);
    process.exit(2);
  }
  const raw = values.body
    ? readFileSync(values.body, "utf8")
    : JSON.stringify({
        saleChannelOrderId: values.order ?? `SO${Date.now()}`,
        requestId: String(Date.now()),
        ...(values.mobile ? { notifyType: { mobilePhone: values.mobile } } : {}),
        item: { saleChannelItemId: `I${Date.now()}`, commissionDate: "1", validDays: 10, ticketId: Number(values.ticket), codeNum: Number(values.num) },
      });
  const signature = sign("sha256", Buffer.from(raw), createPrivateKey(readFileSync(values.key))).toString("base64");
  const gateway = (process.env.GATEWAY_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
  const response = await fetch(`${gateway}/whale/channel/makeCode`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-sale-channel-id": values.channel, "x-signature": signature },
    body: raw,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  process.stdout.write(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
  const answerSignature = response.headers.get("x-signature");
  if (values["whale-key"]) {
    const whaleKey = createPublicKey({ key: Buffer.from(values["whale-key"], "base64"), format: "der", type: "spki" });
    const signed = answerSignature !== null && verify("sha256", Buffer.from(text), whaleKey, Buffer.from(answerSignature, "base64"));
    process.stderr.write(signed ? "answer signature: verified with the whalePublicKey\n" : "answer signature: MISSING OR WRONG\n");
  }
  process.exit((JSON.parse(text) as { returnCode?: string }).returnCode === "00" ? 0 : 1);
}

await main();
