// The ERP apps' authentication as a table: each way a call can be wrong, and what it is answered; on the real
// store (PGlite, or PostgreSQL when DATABASE_URL is set), the in-process nonce memory and a clock the test sets.
import { createHash, randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../../test/support/databases.js";
import { errorDetailOf } from "../../common/errors.js";
import { KeyRing } from "../../common/key-ring.js";
import { createLogger } from "../../common/logger.js";
import { migrate } from "../../common/migrate.js";
import { createRateLimiter } from "../../common/rate-limiter.js";
import { VOUCHER_SCHEMA } from "../voucher-store.js";
import { AuditStore } from "./audit-store.js";
import { ErpApps } from "./erp-apps.js";
import { erpSignature } from "./erp-signature.js";

const logger = createLogger("erp-apps-test", "silent");
const SECRET = "erp-apps-test-secret-0123456789";
const NOW = Date.parse("2026-12-01T10:00:00Z");

let t: TestDatabase;
let apps: ErpApps;
let now = NOW;
const nonces = createRateLimiter({ logger, prefix: `erp-apps-test:${randomBytes(4).toString("hex")}:` });

beforeAll(async () => {
  t = await testDatabase();
  await migrate(t.db, { schema: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)), logger });
  apps = new ErpApps({ db: t.db, keys: new KeyRing(randomBytes(32), undefined, "WHALE_KEK"), nonces, audit: new AuditStore(t.db), logger, now: () => now });
  await apps.add("erp-main", ["activityQuery"], SECRET);
  await apps.add("erp-other", ["*"], "erp-other-secret-0123456789");
});
afterAll(async () => {
  await nonces.close();
  await t?.drop();
});

let sequence = 0;
/** A call as the ERP signs it, then `change` applied (after signing, unless it re-signs). */
function call(change: Partial<Record<"appId" | "timestamp" | "nonce" | "signature" | "path" | "action" | "bodySha256", string>> = {}, secret = SECRET) {
  sequence += 1;
  const base = {
    appId: "erp-main",
    timestamp: String(now),
    nonce: `nonce-${sequence}-${randomBytes(6).toString("hex")}`,
    path: "/whale/erp/activityQuery",
    action: "activityQuery",
    bodySha256: createHash("sha256").update('{"activityId":"1"}').digest("hex"),
  };
  const signed = { ...base, signature: erpSignature(secret, base.path, base.timestamp, base.nonce, base.bodySha256) };
  return { ...signed, ...change };
}

async function refusal(request: ReturnType<typeof call>): Promise<{ reason?: string; message: string }> {
  try {
    await apps.authenticate(request);
  } catch (err) {
    return { reason: errorDetailOf(err)?.reason, message: (err as { rawMessage?: string }).rawMessage ?? String(err) };
  }
  return { message: "accepted" };
}

const UNAUTHENTICATED = "VOUCHER_ERROR_ERP_UNAUTHENTICATED";

describe("authenticating a back-office call", () => {
  it("accepts a call signed with the app's secret, within the window, for a granted action", async () => {
    await expect(apps.authenticate(call())).resolves.toBe("erp-main");
    // The window is ±5 minutes, both ends included.
    const early = call();
    const late = call();
    now = NOW + 300_000;
    await expect(apps.authenticate(early)).resolves.toBe("erp-main");
    now = NOW - 300_000;
    await expect(apps.authenticate(late)).resolves.toBe("erp-main");
    now = NOW;
  });

  const cases: Array<[string, () => ReturnType<typeof call>, string]> = [
    ["an unknown app", () => call({ appId: "erp-nobody" }), "X-App-Id or X-Signature not accepted"],
    ["a wrong secret", () => call({}, "another-secret-0123456789"), "X-App-Id or X-Signature not accepted"],
    ["another app's secret", () => call({ appId: "erp-other" }), "X-App-Id or X-Signature not accepted"],
    ["a signature over another body", () => call({ bodySha256: "0".repeat(64) }), "X-App-Id or X-Signature not accepted"],
    ["a signature over another timestamp", () => call({ timestamp: String(now - 1) }), "X-App-Id or X-Signature not accepted"],
    ["5 minutes and 1 ms old", () => call({ timestamp: String(now - 300_001) }), "X-Timestamp is more than 5 minutes from WHALE's clock"],
    ["5 minutes and 1 ms ahead", () => call({ timestamp: String(now + 300_001) }), "X-Timestamp is more than 5 minutes from WHALE's clock"],
    ["a 15-character nonce", () => call({ nonce: "n".repeat(15) }), "X-Nonce must be 16–64 printable ASCII characters"],
    ["a nonce with a space", () => call({ nonce: "nonce with spaces!" }), "X-Nonce must be 16–64 printable ASCII characters"],
    ["an uppercase signature", () => ({ ...call(), signature: call().signature.toUpperCase() }), "X-Signature must be 64 lowercase hex digits"],
    ["a timestamp that is not digits", () => call({ timestamp: "1e12" }), "X-Timestamp must be milliseconds since the epoch"],
    ["an action not granted", () => call({ action: "activityInsert", path: "/whale/erp/activityInsert" }), ""],
  ];

  it.each(cases)("refuses %s (ERP_UNAUTHENTICATED)", async (_name, make, message) => {
    const refused = await refusal(make());
    expect(refused.reason).toBe(UNAUTHENTICATED);
    if (message) expect(refused.message).toBe(message);
  });

  it("refuses an ungranted action naming it, once the signature is right", async () => {
    const base = call({ action: "activityInsert", path: "/whale/erp/activityInsert" });
    const signed = { ...base, signature: erpSignature(SECRET, base.path, base.timestamp, base.nonce, base.bodySha256) };
    expect(await refusal(signed)).toEqual({ reason: UNAUTHENTICATED, message: "action activityInsert is not granted to app erp-main" });
  });

  it("refuses a path that does not name the action (a parameter error: the gateway built it)", async () => {
    expect((await refusal(call({ path: "/whale/erp/activityInsert" }))).reason).toBe("VOUCHER_ERROR_PARAMETER_INVALID");
    expect((await refusal(call({ action: "*", path: "/whale/erp/*" }))).reason).toBe("VOUCHER_ERROR_PARAMETER_INVALID");
  });

  it("refuses the same nonce twice within 10 minutes, and a refused call spends no nonce", async () => {
    const first = call();
    await expect(apps.authenticate(first)).resolves.toBe("erp-main");
    expect(await refusal({ ...first })).toEqual({ reason: UNAUTHENTICATED, message: "X-Nonce was already used within the last 10 minutes" });

    const wrong = call({}, "another-secret-0123456789");
    expect((await refusal(wrong)).reason).toBe(UNAUTHENTICATED);
    const right = { ...wrong, signature: erpSignature(SECRET, wrong.path, wrong.timestamp, wrong.nonce, wrong.bodySha256) };
    await expect(apps.authenticate(right)).resolves.toBe("erp-main");
    // The same nonce is the other app's own to use.
    const other = { ...right, appId: "erp-other", signature: erpSignature("erp-other-secret-0123456789", right.path, right.timestamp, right.nonce, right.bodySha256) };
    await expect(apps.authenticate(other)).resolves.toBe("erp-other");
  });

  it("grants, revokes and rotates, each audited as the operator's with the grants before and after", async () => {
    await apps.add("erp-audited", ["activityQuery"], "erp-audited-secret-0123");
    await apps.grant("erp-audited", ["templateQuery", "templateQuery"]);
    await apps.revoke("erp-audited", ["activityQuery"]);
    const { secret } = await apps.rotate("erp-audited");
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect((await apps.list()).find((app) => app.appId === "erp-audited")?.actions).toEqual(["templateQuery"]);

    const audit = await new AuditStore(t.db).list({ recordType: "erp_app", recordId: "erp-audited", limit: 10 });
    expect(audit.map((entry) => [entry.actor, entry.action])).toEqual([
      ["ops", "erpAppRotate"],
      ["ops", "erpAppRevoke"],
      ["ops", "erpAppGrant"],
      ["ops", "erpAppAdd"],
    ]);
    expect(audit[2]).toMatchObject({ before: { actions: ["activityQuery"] }, after: { actions: ["activityQuery", "templateQuery"] } });
    expect(JSON.stringify(audit)).not.toContain(secret);
    // At rest the secret is sealed only.
    const { rows } = await t.db.query<{ secret_ciphertext: Buffer }>("SELECT secret_ciphertext FROM vouchers.erp_app WHERE app_id = 'erp-audited'");
    expect(Buffer.from(rows[0]!.secret_ciphertext).toString("latin1")).not.toContain(secret);
  });

  describe("rotating a secret with an overlap", () => {
    const signedBy = (appId: string, secret: string) => {
      const base = call({ appId });
      return { ...base, signature: erpSignature(secret, base.path, base.timestamp, base.nonce, base.bodySha256) };
    };

    it("keeps the old secret verifying beside the new one until the deadline (24 h unless told), then only the new one", async () => {
      const old = "erp-rotating-old-secret-0123";
      await apps.add("erp-rotating", ["activityQuery"], old);
      const { secret: fresh, app } = await apps.rotate("erp-rotating");
      expect(app.previousSecretUntil?.getTime()).toBe(NOW + 24 * 3_600_000);
      await expect(apps.authenticate(signedBy("erp-rotating", old))).resolves.toBe("erp-rotating");
      await expect(apps.authenticate(signedBy("erp-rotating", fresh))).resolves.toBe("erp-rotating");
      try {
        now = NOW + 24 * 3_600_000 - 1;
        await expect(apps.authenticate(signedBy("erp-rotating", old))).resolves.toBe("erp-rotating");
        now = NOW + 24 * 3_600_000;
        expect((await refusal(signedBy("erp-rotating", old))).message).toBe("X-App-Id or X-Signature not accepted");
        await expect(apps.authenticate(signedBy("erp-rotating", fresh))).resolves.toBe("erp-rotating");
      } finally {
        now = NOW;
      }
    });

    it("takes the operator's deadline; 0 stops the old secret at once; a second rotation keeps only the secret it replaces", async () => {
      const first = "erp-rotating2-first-secret-0";
      await apps.add("erp-rotating2", ["activityQuery"], first);
      const second = (await apps.rotate("erp-rotating2", undefined, 60_000)).secret;
      expect((await apps.list()).find((a) => a.appId === "erp-rotating2")?.previousSecretUntil?.getTime()).toBe(NOW + 60_000);
      const third = (await apps.rotate("erp-rotating2", undefined, 3_600_000)).secret;
      expect((await refusal(signedBy("erp-rotating2", first))).reason).toBe(UNAUTHENTICATED);
      await expect(apps.authenticate(signedBy("erp-rotating2", second))).resolves.toBe("erp-rotating2");
      await expect(apps.authenticate(signedBy("erp-rotating2", third))).resolves.toBe("erp-rotating2");

      const { secret: fourth, app } = await apps.rotate("erp-rotating2", undefined, 0);
      expect(app.previousSecretUntil).toBeNull();
      expect((await refusal(signedBy("erp-rotating2", third))).reason).toBe(UNAUTHENTICATED);
      await expect(apps.authenticate(signedBy("erp-rotating2", fourth))).resolves.toBe("erp-rotating2");
    });

    it("refuses an overlap out of 0–30 days, and never lets a disabled app in with its old secret", async () => {
      await expect(apps.rotate("erp-main", undefined, -1)).rejects.toThrow(/overlap: must be 0 to 30 days/);
      await expect(apps.rotate("erp-main", undefined, 30 * 86_400_000 + 1)).rejects.toThrow(/overlap:/);
      const old = "erp-rotating3-old-secret-01";
      await apps.add("erp-rotating3", ["activityQuery"], old);
      await apps.rotate("erp-rotating3");
      await t.db.query("UPDATE vouchers.erp_app SET is_active = false WHERE app_id = 'erp-rotating3'");
      expect((await refusal(signedBy("erp-rotating3", old))).message).toBe("X-App-Id or X-Signature not accepted");
      // At rest the old secret is sealed only, bound to its own column set.
      const { rows } = await t.db.query<{ c: Buffer }>("SELECT previous_secret_ciphertext AS c FROM vouchers.erp_app WHERE app_id = 'erp-rotating3'");
      expect(Buffer.from(rows[0]!.c).toString("latin1")).not.toContain(old);
    });
  });

  it("refuses an app id taken, a short secret, a malformed action, and changes to an app that does not exist", async () => {
    await expect(apps.add("erp-main", ["*"])).rejects.toMatchObject({ rawMessage: "appId: an app erp-main exists" });
    await expect(apps.add("erp-short", ["*"], "short")).rejects.toThrow(/secret: must be 16–256/);
    await expect(apps.add("erp-bad", ["activity Query"])).rejects.toThrow(/actions:/);
    await expect(apps.add("erp bad", ["*"])).rejects.toThrow(/appId:/);
    await expect(apps.grant("erp-ghost", ["*"])).rejects.toThrow(/app erp-ghost does not exist/);
  });

  it.each(["ops", "system"])("refuses an app named %s, the audit's name for the operator CLI or the service itself", async (appId) => {
    await expect(apps.add(appId, ["*"])).rejects.toMatchObject({ rawMessage: "appId: ops and system are reserved (the audit's names for the operator CLI and the service itself)" });
    expect((await apps.list()).map((app) => app.appId)).not.toContain(appId);
  });
});
