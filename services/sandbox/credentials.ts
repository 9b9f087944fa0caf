/**
 * Credentials the sandbox simulators accept. They guard nothing (the simulators are test equipment), and the
 * embedded mode, the tests and `npm run sandbox` agree on them through this one place.
 */
export const SANDBOX_PSBC = { appId: "sandbox-psbc", appSecret: "sandbox-psbc-secret" };
export const SANDBOX_BLUE_BROTHERS = { appId: "sandbox-bb", appSecret: "sandbox-bb-secret" };
export const SANDBOX_SMS = { appId: "sandbox-sms", appSecret: "sandbox-sms-secret" };
export const SANDBOX_ESB = { appId: "sandbox-esb", appSecret: "sandbox-esb-secret" };

/**
 * Where the simulators listen unless PSBC_SANDBOX_PORT / BLUE_BROTHERS_SANDBOX_PORT say otherwise, in `npm start`
 * and `npm run sandbox` alike: fixed, because the voucher URLs the platform answered point at them.
 */
export const SANDBOX_PORTS = { psbc: 9101, blueBrothers: 9102, sms: 9103, esb: 9104 };

/**
 * The AES secret of sandbox service type 310001 unless SANDBOX_AES_KEY / SANDBOX_AES_IV say otherwise: the
 * embedded mode registers it and the `psbc` CLI encrypts with it, so they must agree.
 */
export const SANDBOX_AES = { key: "psbc-sandbox-key", iv: "psbc-sandbox-iv0" };

/**
 * The embedded mode's back-office app (an ERP stand-in): the voucher service registers it with every action,
 * its secret ERP_SANDBOX_SECRET unless set otherwise; `npm run ops -- whale call` signs as it by default.
 */
export const SANDBOX_ERP = { appId: "erp-sandbox", secret: "erp-sandbox-secret-change-me" };

/**
 * The PSBC offer the embedded mode seeds (SANDBOX_PSBC_OFFER): the sale channel PSBC, a Blue Brothers send channel,
 * the WHALE template of sandbox service type 310001 (its well-known id, below the identity's range, so the order
 * service can name it; its productId is the Blue Brothers template the sandbox makes) and an activity offering it.
 */
export const SANDBOX_PSBC_OFFER = { templateId: "9000000000", productId: "310001", sendChannelName: "Blue Brothers (sandbox)", ebuyActivityId: "PSBC-SANDBOX" };
