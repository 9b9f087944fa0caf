// The ERP apps that may call the back office: each with an HMAC secret (sealed under WHALE_KEK, bound to the
// app id) and the actions it was granted ("*": every action). Authentication checks a call in the order that
// reveals least: the header forms, the app, the timestamp window, the signature (constant time), the grant, and
// last the nonce, remembered for 10 minutes (Redis in the cluster, so every replica sees it), so only a call
// that proved its sender uses one up. A rotation keeps the secret it replaced verifying until a deadline (24 h
// unless the operator says otherwise), so the ERP can switch to the new one without a refused call.
import { randomBytes } from "node:crypto";
import type { Database, Queryable } from "../../common/database.js";
import type { KeyRing, SealedSecret } from "../../common/key-ring.js";
import type { Logger } from "../../common/logger.js";
import type { RateLimiter } from "../../common/rate-limiter.js";
import type { AuthenticateErpCallRequest } from "../../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { VoucherError, voucherError } from "../errors.js";
import { OPS_ACTOR, RESERVED_ACTORS, type AuditStore } from "./audit-store.js";
import { sealContext } from "./catalogue-store.js";
import { APP_ID_PATTERN, ERP_NONCE_TTL_MS, ERP_TIMESTAMP_SKEW_MS, erpSignatureMatches } from "./erp-signature.js";

/** An action name as a path segment spells it; "*" grants every action. */
export const ACTION_PATTERN = /^(?:[A-Za-z][A-Za-z0-9]{0,63}|\*)$/;
export const ALL_ACTIONS = "*";
const MIN_SECRET_LENGTH = 16;
const MAX_SECRET_LENGTH = 256;
export const ERP_PATH_PREFIX = "/whale/erp/";
/** How long a rotated-out secret still verifies unless the operator says otherwise. */
export const DEFAULT_ROTATION_OVERLAP_MS = 24 * 3_600_000;
export const MAX_ROTATION_OVERLAP_MS = 30 * 24 * 3_600_000;

/** A call's credentials as the gateway passes them on. */
export type ErpCallCredentials = Omit<AuthenticateErpCallRequest, "$typeName" | "$unknown">;

export interface ErpApp {
  appId: string;
  isActive: boolean;
  actions: string[];
  /** Until when the secret the last rotation replaced verifies (a past time: it no longer does); null: no overlap. */
  previousSecretUntil: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

interface AppRow {
  app_id: string;
  is_active: boolean;
  secret_ciphertext: Buffer;
  secret_nonce: Buffer;
  secret_tag: Buffer;
  secret_kek_id: string;
  previous_secret_ciphertext: Buffer | null;
  previous_secret_nonce: Buffer | null;
  previous_secret_tag: Buffer | null;
  previous_secret_kek_id: string | null;
  previous_secret_until: Date | null;
  created_at: Date;
  updated_at: Date;
  actions: string[] | null;
}

const refused = (why: string) => voucherError(VoucherError.ERP_UNAUTHENTICATED, why);
const invalid = (field: string, rule: string) => voucherError(VoucherError.PARAMETER_INVALID, `${field}: ${rule}`);

export interface ErpAppsOptions {
  db: Database;
  keys: KeyRing;
  /** Remembers nonces: a nonce counted twice within its window is a replay. */
  nonces: RateLimiter;
  audit: AuditStore;
  logger: Logger;
  /** The wall clock (not the business clock): X-Timestamp is the caller's real time. */
  now?: () => number;
}

const SELECT_APP = `SELECT a.app_id, a.is_active, a.secret_ciphertext, a.secret_nonce, a.secret_tag, a.secret_kek_id,
    a.previous_secret_ciphertext, a.previous_secret_nonce, a.previous_secret_tag, a.previous_secret_kek_id, a.previous_secret_until,
    a.created_at, a.updated_at,
    (SELECT array_agg(g.action ORDER BY g.action) FROM vouchers.erp_app_grant g WHERE g.app_id = a.app_id) AS actions
  FROM vouchers.erp_app a`;

export class ErpApps {
  /** A secret to check an unknown app's signature against, so the answer takes as long as for a known app. */
  private readonly decoySecret = randomBytes(32).toString("hex");

  constructor(private readonly options: ErpAppsOptions) {}

  /** The app a back-office call comes from, or ERP_UNAUTHENTICATED saying what failed. */
  async authenticate(call: ErpCallCredentials): Promise<string> {
    const { logger, nonces } = this.options;
    const now = this.options.now?.() ?? Date.now();
    if (!APP_ID_PATTERN.test(call.appId)) throw refused("X-App-Id is malformed");
    if (!/^[0-9]{1,15}$/.test(call.timestamp)) throw refused("X-Timestamp must be milliseconds since the epoch");
    if (!/^[\x21-\x7e]{16,64}$/.test(call.nonce)) throw refused("X-Nonce must be 16–64 printable ASCII characters");
    if (!/^[0-9a-f]{64}$/.test(call.signature)) throw refused("X-Signature must be 64 lowercase hex digits");
    if (!/^[0-9a-f]{64}$/.test(call.bodySha256)) throw invalid("bodySha256", "must be 64 lowercase hex digits");
    if (!ACTION_PATTERN.test(call.action) || call.action === ALL_ACTIONS || call.path !== `${ERP_PATH_PREFIX}${call.action}`) {
      throw invalid("path", `must be ${ERP_PATH_PREFIX}<action>`);
    }
    if (Math.abs(now - Number(call.timestamp)) > ERP_TIMESTAMP_SKEW_MS) throw refused("X-Timestamp is more than 5 minutes from WHALE's clock");

    const row = await this.findRow(call.appId);
    const matches = (secret: string) => erpSignatureMatches(secret, call.path, call.timestamp, call.nonce, call.bodySha256, call.signature);
    // The rotated-out secret too, until its deadline.
    const previous = row?.is_active ? this.previousSecretOf(row, now) : undefined;
    const signed = matches(row?.is_active ? this.secretOf(row) : this.decoySecret) || (previous !== undefined && matches(previous));
    // One answer for an unknown app, a disabled one and a wrong signature: which app ids exist is not told.
    if (!row?.is_active || !signed) {
      logger.warn({ appId: call.appId, action: call.action, app: row ? (row.is_active ? "known" : "disabled") : "unknown" }, "back-office call: signature refused");
      throw refused("X-App-Id or X-Signature not accepted");
    }
    const actions = row.actions ?? [];
    if (!actions.includes(ALL_ACTIONS) && !actions.includes(call.action)) {
      logger.warn({ appId: call.appId, action: call.action }, "back-office call: action not granted");
      throw refused(`action ${call.action} is not granted to app ${call.appId}`);
    }
    if ((await nonces.fail(`whale-erp-nonce:${call.appId}:${call.nonce}`, ERP_NONCE_TTL_MS)) > 1) {
      logger.warn({ appId: call.appId, action: call.action }, "back-office call: nonce replayed");
      throw refused("X-Nonce was already used within the last 10 minutes");
    }
    return call.appId;
  }

  /** A new app (DUPLICATE if the id is taken); the secret generated unless given. Answers the secret once. */
  async add(appId: string, actions: readonly string[], secret?: string): Promise<{ app: ErpApp; secret: string }> {
    const id = checkedAppId(appId);
    if (RESERVED_ACTORS.includes(id)) throw invalid("appId", `${RESERVED_ACTORS.join(" and ")} are reserved (the audit's names for the operator CLI and the service itself)`);
    const granted = checkedActions(actions);
    const plain = secret === undefined ? newSecret() : checkedSecret(secret);
    try {
      await this.options.db.transaction(async (tx) => {
        const sealed = this.options.keys.seal(Buffer.from(plain, "utf8"), sealContext.erpApp(id));
        await tx.query(
          `INSERT INTO vouchers.erp_app (app_id, secret_ciphertext, secret_nonce, secret_tag, secret_kek_id) VALUES ($1, $2, $3, $4, $5)`,
          [id, sealed.ciphertext, sealed.nonce, sealed.tag, sealed.kekId],
        );
        await this.insertGrants(tx, id, granted);
        await this.auditApp(tx, "erpAppAdd", id, null);
      });
    } catch (err) {
      if ((err as { code?: unknown }).code === "23505") throw voucherError(VoucherError.DUPLICATE, `appId: an app ${id} exists`);
      throw err;
    }
    return { app: await this.require(id), secret: plain };
  }

  /**
   * The embedded mode's app: registered with `secret` and every action at each start (the secret follows
   * ERP_SANDBOX_SECRET if it changed).
   */
  async ensureSandboxApp(appId: string, secret: string): Promise<void> {
    const sealed = this.options.keys.seal(Buffer.from(checkedSecret(secret), "utf8"), sealContext.erpApp(appId));
    await this.options.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO vouchers.erp_app (app_id, secret_ciphertext, secret_nonce, secret_tag, secret_kek_id) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (app_id) DO UPDATE SET secret_ciphertext = EXCLUDED.secret_ciphertext, secret_nonce = EXCLUDED.secret_nonce,
           secret_tag = EXCLUDED.secret_tag, secret_kek_id = EXCLUDED.secret_kek_id, is_active = true, updated_at = now()`,
        [appId, sealed.ciphertext, sealed.nonce, sealed.tag, sealed.kekId],
      );
      await this.insertGrants(tx, appId, [ALL_ACTIONS]);
    });
  }

  async list(): Promise<ErpApp[]> {
    const { rows } = await this.options.db.query<AppRow>(`${SELECT_APP} ORDER BY a.app_id`);
    return rows.map(appOf);
  }

  async grant(appId: string, actions: readonly string[]): Promise<ErpApp> {
    const id = checkedAppId(appId);
    const granted = checkedActions(actions);
    await this.changeApp(id, "erpAppGrant", (tx) => this.insertGrants(tx, id, granted));
    return this.require(id);
  }

  async revoke(appId: string, actions: readonly string[]): Promise<ErpApp> {
    const id = checkedAppId(appId);
    const revoked = checkedActions(actions);
    await this.changeApp(id, "erpAppRevoke", async (tx) => {
      await tx.query(`DELETE FROM vouchers.erp_app_grant WHERE app_id = $1 AND action = ANY($2::text[])`, [id, revoked]);
    });
    return this.require(id);
  }

  /**
   * A new secret (generated unless given). The one it replaces still verifies for `overlapMs` (24 h unless
   * given; 0: it stops at once), so the ERP can switch without a refused call; a rotation within the overlap
   * keeps only the secret it replaces, and the one before stops.
   */
  async rotate(appId: string, secret?: string, overlapMs = DEFAULT_ROTATION_OVERLAP_MS): Promise<{ app: ErpApp; secret: string }> {
    const id = checkedAppId(appId);
    const plain = secret === undefined ? newSecret() : checkedSecret(secret);
    if (!Number.isInteger(overlapMs) || overlapMs < 0 || overlapMs > MAX_ROTATION_OVERLAP_MS) {
      throw invalid("overlap", `must be 0 to ${MAX_ROTATION_OVERLAP_MS / 86_400_000} days`);
    }
    const { keys } = this.options;
    const sealed = keys.seal(Buffer.from(plain, "utf8"), sealContext.erpApp(id));
    await this.changeApp(id, "erpAppRotate", async (tx, row) => {
      const previous = overlapMs === 0 ? null : keys.seal(Buffer.from(this.secretOf(row), "utf8"), sealContext.erpAppPrevious(id));
      const until = previous && new Date((this.options.now?.() ?? Date.now()) + overlapMs);
      await tx.query(
        `UPDATE vouchers.erp_app SET secret_ciphertext = $2, secret_nonce = $3, secret_tag = $4, secret_kek_id = $5,
                previous_secret_ciphertext = $6, previous_secret_nonce = $7, previous_secret_tag = $8, previous_secret_kek_id = $9,
                previous_secret_until = $10, updated_at = now()
          WHERE app_id = $1`,
        [id, sealed.ciphertext, sealed.nonce, sealed.tag, sealed.kekId, previous?.ciphertext ?? null, previous?.nonce ?? null, previous?.tag ?? null, previous?.kekId ?? null, until],
      );
    });
    return { app: await this.require(id), secret: plain };
  }

  private async changeApp(appId: string, action: string, change: (tx: Queryable, row: AppRow) => Promise<void>): Promise<void> {
    await this.options.db.transaction(async (tx) => {
      const { rows } = await tx.query<AppRow>(`${SELECT_APP} WHERE a.app_id = $1 FOR UPDATE OF a`, [appId]);
      if (!rows[0]) throw voucherError(VoucherError.REFERENCE_INVALID, `app ${appId} does not exist`);
      await change(tx, rows[0]);
      await tx.query(`UPDATE vouchers.erp_app SET updated_at = now() WHERE app_id = $1`, [appId]);
      await this.auditApp(tx, action, appId, appOf(rows[0]));
    });
  }

  private async insertGrants(tx: Queryable, appId: string, actions: readonly string[]): Promise<void> {
    if (actions.length === 0) return;
    await tx.query(
      `INSERT INTO vouchers.erp_app_grant (app_id, action) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`,
      [appId, actions],
    );
  }

  /** The app's audit row: its grants before and after, never its secret. */
  private async auditApp(tx: Queryable, action: string, appId: string, before: ErpApp | null): Promise<void> {
    const { rows } = await tx.query<AppRow>(`${SELECT_APP} WHERE a.app_id = $1`, [appId]);
    const view = (app: ErpApp | null) =>
      app && { appId: app.appId, isActive: app.isActive, actions: app.actions, previousSecretUntil: app.previousSecretUntil?.toISOString() ?? null };
    await this.options.audit.record(tx, { actor: OPS_ACTOR, action, recordType: "erp_app", recordId: appId, before: view(before), after: view(rows[0] ? appOf(rows[0]) : null) });
  }

  private async findRow(appId: string): Promise<AppRow | undefined> {
    const { rows } = await this.options.db.query<AppRow>(`${SELECT_APP} WHERE a.app_id = $1`, [appId]);
    return rows[0];
  }

  private async require(appId: string): Promise<ErpApp> {
    const row = await this.findRow(appId);
    if (!row) throw voucherError(VoucherError.REFERENCE_INVALID, `app ${appId} does not exist`);
    return appOf(row);
  }

  private secretOf(row: AppRow): string {
    const sealed = { ciphertext: row.secret_ciphertext, nonce: row.secret_nonce, tag: row.secret_tag, kekId: row.secret_kek_id };
    return this.options.keys.open(sealed, sealContext.erpApp(row.app_id)).toString("utf8");
  }

  /** The rotated-out secret while its deadline has not passed. */
  private previousSecretOf(row: AppRow, now: number): string | undefined {
    const { previous_secret_ciphertext: ciphertext, previous_secret_nonce: nonce, previous_secret_tag: tag, previous_secret_kek_id: kekId } = row;
    if (!ciphertext || !nonce || !tag || !kekId || !row.previous_secret_until || new Date(row.previous_secret_until).getTime() <= now) return undefined;
    const sealed: SealedSecret = { ciphertext, nonce, tag, kekId };
    return this.options.keys.open(sealed, sealContext.erpAppPrevious(row.app_id)).toString("utf8");
  }
}

function appOf(row: AppRow): ErpApp {
  return {
    appId: row.app_id,
    isActive: row.is_active,
    actions: row.actions ?? [],
    previousSecretUntil: row.previous_secret_until ? new Date(row.previous_secret_until) : null,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function checkedAppId(appId: string): string {
  if (!APP_ID_PATTERN.test(appId)) throw invalid("appId", "must be 1–64 letters, digits, '.', '_' or '-'");
  return appId;
}

function checkedActions(actions: readonly string[]): string[] {
  for (const action of actions) if (!ACTION_PATTERN.test(action)) throw invalid("actions", "each must be an action name (letters and digits) or *");
  return [...new Set(actions)];
}

function checkedSecret(secret: string): string {
  if (secret.length < MIN_SECRET_LENGTH || secret.length > MAX_SECRET_LENGTH || !/^[\x21-\x7e]+$/.test(secret)) {
    throw invalid("secret", `must be ${MIN_SECRET_LENGTH}–${MAX_SECRET_LENGTH} printable ASCII characters`);
  }
  return secret;
}

/** 256 bits from the CSPRNG, hex. */
function newSecret(): string {
  return randomBytes(32).toString("hex");
}
