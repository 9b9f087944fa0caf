// A WHALE catalogue to make codes from, written straight into the voucher schema's tables (the back office's
// own tests cover how the ERP writes them): a sale channel with its key pair and WHALE's, an internal send
// channel, a template and an activity offering it. Also the sale channel's side of the make-code call: its
// signed request and the check of WHALE's signed answer.
import { generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { Ajv, type ValidateFunction } from "ajv";
import type { Queryable } from "../../services/common/database.js";
import type { KeyRing } from "../../services/common/key-ring.js";
import { sealContext } from "../../services/voucher/catalogue/catalogue-store.js";

export interface WhaleOffer {
  saleChannelId: string;
  sendChannelId: string;
  templateId: string;
  activityId: string;
  /** The sale channel's own private key: signs its requests. */
  channelPrivateKey: KeyObject;
  /** WHALE's public key for the channel: verifies our answers. */
  whalePublicKey: KeyObject;
}

export interface OfferOptions {
  channelActive?: boolean;
  templateActive?: boolean;
  activityEnds?: Date;
  bound?: boolean;
  sendType?: number;
}

async function one<T extends object>(db: Queryable, sql: string, params: unknown[]): Promise<T> {
  const { rows } = await db.query<T>(sql, params);
  if (!rows[0]) throw new Error("no row");
  return rows[0];
}

// Two RSA pairs for every offer of a run: generating them is the slow part, and offers differ by their ids.
const channelPair = generateKeyPairSync("rsa", { modulusLength: 2048 });
const whalePair = generateKeyPairSync("rsa", { modulusLength: 2048 });
const spki = (key: KeyObject) => key.export({ type: "spki", format: "der" }).toString("base64");

export async function seedOffer(db: Queryable, keys: KeyRing, options: OfferOptions = {}): Promise<WhaleOffer> {
  const tag = randomUUID().slice(0, 8);
  const { sale_channel_id } = await one<{ sale_channel_id: string }>(
    db,
    `INSERT INTO vouchers.sale_channel (name, is_active, erp_create_time, erp_update_time, channel_public_key, whale_public_key,
       whale_private_ciphertext, whale_private_nonce, whale_private_tag, whale_private_kek_id)
     VALUES ($1, $2, '20260101000000', '20260101000000', $3, $4, '\\x00', '\\x00', '\\x00', 'unsealed') RETURNING sale_channel_id::text`,
    [`bank-${tag}`, options.channelActive ?? true, spki(channelPair.publicKey), spki(whalePair.publicKey)],
  );
  // Sealed bound to the row, as the catalogue seals it.
  const sealed = keys.seal(Buffer.from(whalePair.privateKey.export({ type: "pkcs8", format: "pem" }).toString()), sealContext.saleChannel(sale_channel_id));
  await db.query(
    `UPDATE vouchers.sale_channel SET whale_private_ciphertext = $2, whale_private_nonce = $3, whale_private_tag = $4, whale_private_kek_id = $5
      WHERE sale_channel_id = $1`,
    [sale_channel_id, sealed.ciphertext, sealed.nonce, sealed.tag, sealed.kekId],
  );
  const { send_channel_id } = await one<{ send_channel_id: string }>(
    db,
    `INSERT INTO vouchers.send_channel (name, channel_type, config) VALUES ($1, 'INTERNAL', '{}') RETURNING send_channel_id::text`,
    [`internal-${tag}`],
  );
  const { template_id } = await one<{ template_id: string }>(
    db,
    `INSERT INTO vouchers.template (name, send_channel_id, brand_id, product_id, ticket_type, face_value, send_type, is_active,
       erp_create_time, erp_update_time, config)
     VALUES ('COSTA30元代金券', $1, 686, (random() * 1e12)::bigint, 1, 3000, $2, $3, '20260101000000', '20260101000000', '{"useTimes":"10"}')
     RETURNING template_id::text`,
    [send_channel_id, options.sendType ?? 1, options.templateActive ?? true],
  );
  const { activity_id } = await one<{ activity_id: string }>(
    db,
    `INSERT INTO vouchers.activity (name, ebuy_activity_id, sale_channel_id, valid_start, valid_end, erp_create_time, erp_update_time)
     VALUES ('中信银行星巴克代金券活动', $1, $2, now() - interval '30 days', $3, '20260101000000', '20260101000000') RETURNING activity_id::text`,
    [`E${tag}`, sale_channel_id, options.activityEnds ?? new Date(Date.now() + 365 * 86_400_000)],
  );
  if (options.bound ?? true) await db.query(`INSERT INTO vouchers.activity_template (activity_id, template_id) VALUES ($1, $2)`, [activity_id, template_id]);
  return {
    saleChannelId: sale_channel_id,
    sendChannelId: send_channel_id,
    templateId: template_id,
    activityId: activity_id,
    channelPrivateKey: channelPair.privateKey,
    whalePublicKey: whalePair.publicKey,
  };
}

/** The headers of a make-code call signed by the channel (SHA256withRSA over the exact body, Base64). */
export function signedHeaders(offer: Pick<WhaleOffer, "saleChannelId" | "channelPrivateKey">, body: string): Record<string, string> {
  return {
    "content-type": "application/json",
    "x-sale-channel-id": offer.saleChannelId,
    "x-signature": sign("sha256", Buffer.from(body), offer.channelPrivateKey).toString("base64"),
  };
}

/** Whether WHALE's answer is signed for the channel over its exact bytes. */
export function answerSigned(offer: Pick<WhaleOffer, "whalePublicKey">, body: string, signature: string | undefined): boolean {
  return signature !== undefined && verify("sha256", Buffer.from(body), offer.whalePublicKey, Buffer.from(signature, "base64"));
}

/** The seed's make-code request example, for a template. */
export function seedMakeCodeBody(templateId: string, overrides: { saleChannelOrderId?: string; mobilePhone?: string; codeNum?: number } = {}) {
  return {
    saleChannelOrderId: overrides.saleChannelOrderId ?? `SO${Date.now()}${Math.floor(Math.random() * 1e6)}`,
    requestId: "20181024154201",
    notifyType: { mobilePhone: overrides.mobilePhone ?? "13524161800" },
    item: {
      saleChannelItemId: "20181024154201",
      commissionDate: "1",
      validDays: 10,
      ticketId: Number(templateId),
      ...(overrides.codeNum === undefined ? {} : { codeNum: overrides.codeNum }),
      makeFundsChannel: { channelBenefit: 0, merchantBenefit: 500, userRealAmount: 2500 },
    },
  };
}

/** The make-code API's contract file, written from the served document (gateway/whale-channel/contract.test.ts). */
export const WHALE_CHANNEL_CONTRACT_URL = new URL("../../gateway/whale-channel/whale-channel-openapi.json", import.meta.url);

let validateAnswer: ValidateFunction | undefined;

/** Throws unless `body` is an answer the contract file allows (HTTP 200 always). */
export function assertChannelContract(httpStatus: number, body: unknown): void {
  if (!validateAnswer) {
    const doc = JSON.parse(readFileSync(WHALE_CHANNEL_CONTRACT_URL, "utf8")) as {
      paths: Record<string, { post: { responses: Record<string, { content: Record<string, { schema: object }> }> } }>;
    };
    const schema = doc.paths["/whale/channel/makeCode"]?.post.responses["200"]?.content["application/json"]?.schema;
    if (!schema) throw new Error("the contract file has no makeCode answer");
    validateAnswer = new Ajv({ strict: false, allErrors: true }).compile(schema);
  }
  if (httpStatus !== 200) throw new Error(`every make-code answer is HTTP 200, not ${httpStatus}: ${JSON.stringify(body)}`);
  if (!validateAnswer(body)) throw new Error(`${JSON.stringify(validateAnswer.errors)}\nbody: ${JSON.stringify(body)}`);
}
