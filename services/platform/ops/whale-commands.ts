import { erpActions } from "../../../gateway/whale-erp/actions.js";
import { WHALE_ERP_PREFIX } from "../../../gateway/whale-erp/index.js";
import { CatalogueService, type ErpApp } from "../../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { ALL_ACTIONS } from "../../voucher/catalogue/erp-apps.js";
import { erpCallHeaders } from "../../voucher/catalogue/erp-signature.js";
import { SANDBOX_ERP } from "../../sandbox/credentials.js";
import { optionalLimit, UsageError, required, type OpsCommand } from "./command.js";
import { formatTimestamp } from "../../common/clock.js";


const appView = (app: ErpApp | undefined) =>
  app && {
    appId: app.appId, isActive: app.isActive, actions: app.actions, createdAt: formatTimestamp(app.createdAt), updatedAt: formatTimestamp(app.updatedAt),
    ...(app.previousSecretUntil ? { previousSecretUntil: formatTimestamp(app.previousSecretUntil) } : {}),
  };

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 };

/** `--overlap 24h` (s, m, h or d; 0: none) → seconds; absent: the service's default (24 h). */
function overlapSecondsOf(value: string | boolean | undefined): bigint | undefined {
  if (value === undefined) return undefined;
  const match = typeof value === "string" ? /^([0-9]{1,7})([smhd]?)$/.exec(value) : null;
  if (!match) throw new UsageError("--overlap: how long the old secret still verifies, e.g. 24h, 90m, 2d, or 0 for not at all");
  return BigInt(Number(match[1]) * DURATION_UNITS[match[2] || "s"]!);
}

const KNOWN_ACTIONS = new Set(erpActions.map((action) => action.name));

/** `a,b` or `*` → the actions, each one the gateway serves (or * for every one, today's and tomorrow's). */
function actionsOf(list: string | undefined): string[] {
  const actions = (list ?? "").split(",").map((action) => action.trim()).filter(Boolean);
  if (actions.length === 0) throw new UsageError(`name the actions (comma-separated), or ${ALL_ACTIONS} for all: ${[...KNOWN_ACTIONS].join(", ")}`);
  const unknown = actions.filter((action) => action !== ALL_ACTIONS && !KNOWN_ACTIONS.has(action));
  if (unknown.length > 0) throw new UsageError(`not back-office actions: ${unknown.join(", ")}`);
  return actions;
}

const optional = (value: string | boolean | undefined): string | undefined => (typeof value === "string" ? value : undefined);

/**
 * `whale …`: the back office's ERP apps (who may call which action, with which secret), its audit, and a signed
 * call to an action as an ERP makes it (the README's setup runs on it).
 */
export const whaleCommands: OpsCommand[] = [
  {
    words: ["whale", "app", "add"],
    usage: "whale app add <appId> --actions A[,A…]|* [--secret S]   an ERP app; prints its secret once (admin)",
    options: ["actions", "secret"],
    positionals: 1,
    async run({ positionals: [appId], values }, context) {
      if (!appId) throw new UsageError("whale app add needs an app id");
      const actions = actionsOf(required(values, "actions"));
      const { app, secret } = await context.client("voucher", CatalogueService).putErpApp({ appId, actions, secret: optional(values.secret) }, context.admin());
      context.print({ ...appView(app), secret });
    },
  },
  {
    words: ["whale", "app", "list"],
    usage: "whale app list                      the ERP apps and their actions (admin)",
    positionals: 0,
    async run(_input, context) {
      const { apps } = await context.client("voucher", CatalogueService).listErpApps({}, context.admin());
      context.print(apps.map(appView));
    },
  },
  {
    words: ["whale", "app", "grant"],
    usage: "whale app grant <appId> A[,A…]|*    lets the app call these actions too (admin)",
    positionals: 2,
    async run({ positionals: [appId, list] }, context) {
      if (!appId) throw new UsageError("whale app grant needs an app id and actions");
      const { app } = await context.client("voucher", CatalogueService).grantErpActions({ appId, actions: actionsOf(list) }, context.admin());
      context.print(appView(app));
    },
  },
  {
    words: ["whale", "app", "revoke"],
    usage: "whale app revoke <appId> A[,A…]|*   no longer (admin)",
    positionals: 2,
    async run({ positionals: [appId, list] }, context) {
      if (!appId) throw new UsageError("whale app revoke needs an app id and actions");
      const { app } = await context.client("voucher", CatalogueService).revokeErpActions({ appId, actions: actionsOf(list) }, context.admin());
      context.print(appView(app));
    },
  },
  {
    words: ["whale", "app", "rotate"],
    usage:
      "whale app rotate <appId> [--secret S] [--overlap 24h]   a new secret, printed once; the old one still verifies for --overlap (default 24h; 0: stops at once) (admin)",
    options: ["secret", "overlap"],
    positionals: 1,
    async run({ positionals: [appId], values }, context) {
      if (!appId) throw new UsageError("whale app rotate needs an app id");
      const { app, secret } = await context
        .client("voucher", CatalogueService)
        .rotateErpAppSecret({ appId, secret: optional(values.secret), overlapSeconds: overlapSecondsOf(values.overlap) }, context.admin());
      context.print({ ...appView(app), secret });
    },
  },
  {
    words: ["whale", "kek", "reseal"],
    usage:
      "whale kek reseal   after a WHALE_KEK rotation: seals every back-office secret again under the current KEK; prints the counts, exit 1 while any is left under another (admin)",
    positionals: 0,
    async run(_input, context) {
      const { kekId, counts } = await context.client("voucher", CatalogueService).resealSecrets({}, context.admin());
      context.print({ kekId, counts: counts.map(({ name, resealed, skipped, failed, remaining }) => ({ name, resealed, skipped, failed, remaining })) });
      const remaining = counts.reduce((sum, count) => sum + count.remaining, 0);
      if (remaining > 0) {
        const failed = counts.reduce((sum, count) => sum + count.failed, 0);
        throw new Error(`${remaining} secrets still sealed under another KEK (${failed} would not open): keep WHALE_KEK_PREVIOUS and run it again`);
      }
      context.progress.show(`every secret is sealed under KEK ${kekId}: WHALE_KEK_PREVIOUS can be dropped\n`);
    },
  },
  {
    words: ["whale", "audit"],
    usage: "whale audit [--record-type T --record-id ID] [--before AUDIT_ID] [--limit N]   the back office's changes, newest first",
    options: ["record-type", "record-id", "before", "limit"],
    positionals: 0,
    async run({ values }, context) {
      const limit = optionalLimit(values, 500);
      const { entries } = await context.client("voucher", CatalogueService).listAudit({
        recordType: optional(values["record-type"]) ?? "",
        recordId: optional(values["record-id"]) ?? "",
        beforeAuditId: optional(values.before) ?? "",
        limit,
      });
      context.print(
        entries.map((entry) => ({
          auditId: entry.auditId,
          time: formatTimestamp(entry.at),
          actor: entry.actor,
          action: entry.action,
          record: `${entry.recordType} ${entry.recordId}`,
          before: entry.beforeJson ? JSON.parse(entry.beforeJson) : null,
          after: entry.afterJson ? JSON.parse(entry.afterJson) : null,
        })),
      );
    },
  },
  {
    words: ["whale", "call"],
    usage: "whale call <action> '<JSON body>'   a signed back-office call through the gateway, as an ERP makes it; exit 1 unless returnCode 00",
    positionals: 2,
    async run({ positionals: [action, json] }, context) {
      if (!action || json === undefined) throw new UsageError("whale call needs an action and a JSON body");
      try {
        JSON.parse(json);
      } catch {
        throw new UsageError("the body is not JSON");
      }
      const gateway = context.env.GATEWAY_URL || "http://127.0.0.1:8080";
      const app = { appId: context.env.ERP_APP_ID || SANDBOX_ERP.appId, secret: context.env.ERP_APP_SECRET || SANDBOX_ERP.secret };
      const path = `${WHALE_ERP_PREFIX}/${action}`;
      const response = await context.fetch(`${gateway}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...erpCallHeaders(app, path, json) },
        body: json,
        signal: AbortSignal.timeout(20_000),
      });
      const answer = (await response.json()) as { returnCode?: string; returnMsg?: string };
      context.print(answer);
      if (answer.returnCode !== "00") throw new Error(`returnCode ${answer.returnCode}: ${answer.returnMsg}`);
    },
  },
];
