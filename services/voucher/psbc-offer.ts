// The sandbox's PSBC offer: what a PSBC booking's voucher is made from in the embedded mode and staging (the
// cluster's is set up by the back office: README "The PSBC offer").
import type { Clock } from "../common/clock.js";
import { formatBusinessTime } from "../common/clock.js";
import type { Database } from "../common/database.js";
import { SANDBOX_PSBC_OFFER } from "../sandbox/credentials.js";
import type { AuditRecordType, AuditStore } from "./catalogue/audit-store.js";
import type { CatalogueStore } from "./catalogue/catalogue-store.js";
import { generateWhaleKeyPair } from "./catalogue/keys.js";
import { PSBC_SALE_CHANNEL_NAME } from "./vouchers.js";

const SEEDED_BY = { actor: "sandbox", action: "sandboxPsbcOffer" };

/**
 * Seeds, once, the sale channel PSBC (unless there is one), a Blue Brothers send channel, sandbox service type
 * 310001's template under its well-known id (SANDBOX_PSBC_OFFER) and an activity of PSBC offering it, each with
 * its audit row. One transaction under an advisory lock, so replicas starting together seed it once.
 */
export async function ensureSandboxPsbcOffer(deps: { db: Database; store: CatalogueStore; audit: AuditStore; clock: Clock }): Promise<void> {
  const { store } = deps;
  const erpTime = formatBusinessTime(deps.clock.now());
  await deps.db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('vouchers.sandbox_psbc_offer'))`);
    if (await store.findTemplate(SANDBOX_PSBC_OFFER.templateId, tx)) return;
    const audited = (recordType: AuditRecordType, recordId: string, after: unknown) =>
      deps.audit.record(tx, { ...SEEDED_BY, recordType, recordId, before: null, after });

    let sale = await store.findSaleChannelByName(PSBC_SALE_CHANNEL_NAME, tx);
    if (!sale) {
      const pair = await generateWhaleKeyPair();
      const saleChannelId = await store.nextId(tx, "sale_channel");
      sale = await store.insertSaleChannel(
        tx,
        {
          saleChannelId, name: PSBC_SALE_CHANNEL_NAME, isActive: true, remark: "the PSBC bookings' vouchers", creatorName: null,
          erpCreateTime: erpTime, erpUpdateTime: erpTime, channelPublicKey: null, verifyNotifyUrl: null, whalePublicKey: pair.publicKey,
        },
        pair.privateKey,
      );
      await audited("sale_channel", saleChannelId, sale);
    }
    const sendChannelId = await store.nextId(tx, "send_channel");
    const send = await store.insertSendChannel(
      tx,
      { sendChannelId, name: SANDBOX_PSBC_OFFER.sendChannelName, isActive: true, channelType: "BLUE_BROTHERS", config: {} },
      null,
    );
    await audited("send_channel", sendChannelId, send);
    const template = await store.insertTemplate(
      tx,
      {
        name: "sandbox rights service 310001", sendChannelId, brandId: "1", productId: SANDBOX_PSBC_OFFER.productId, ticketType: 3,
        faceValue: 0, sendType: 1, isActive: true, remark: null, createUser: null, erpCreateTime: erpTime, erpUpdateTime: erpTime, config: {},
      },
      SANDBOX_PSBC_OFFER.templateId,
    );
    await audited("template", template.templateId, template);
    // Open-ended both ways: a shifted embedded clock (CLOCK_START) books within it too.
    const activity = await store.insertActivity(tx, {
      name: "PSBC rights services (sandbox)", ebuyActivityId: SANDBOX_PSBC_OFFER.ebuyActivityId, saleChannelId: sale.saleChannelId,
      validStart: new Date("2000-01-01T00:00:00+08:00"), validEnd: new Date("2100-01-01T00:00:00+08:00"), isActive: true, createUser: null,
      erpCreateTime: erpTime, erpUpdateTime: erpTime, config: {},
    });
    await audited("activity", activity.activityId, activity);
    await store.bind(tx, activity.activityId, template.templateId);
    await audited("activity_template", `${activity.activityId}:${template.templateId}`, { activityId: activity.activityId, templateId: template.templateId });
  });
}
