-- WHALE rules (seed 002, createRule): one row per rule with its current version's lookup columns, and every
-- version kept whole (an update writes a new version; the history is listable). Quota counters and the
-- reservations that charged them belong to the rule, not a version, so an update keeps what was counted.
CREATE SEQUENCE vouchers.rule_id_seq START 1000000001;

CREATE TABLE vouchers.rule (
  rule_id          text PRIMARY KEY DEFAULT nextval('vouchers.rule_id_seq')::text,
  version          integer NOT NULL,
  rule_scene       text NOT NULL,
  scene_key        text NOT NULL,
  -- '' when the rule applies to every record of scene_key.
  scene_item_key   text NOT NULL,
  rule_key         text NOT NULL,
  is_active        boolean NOT NULL,
  rule_order       integer NOT NULL,
  start_time       timestamptz NOT NULL,
  end_time         timestamptz NOT NULL,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL
);
-- The gate's lookup: a scene's active rules of some scene keys.
CREATE INDEX rule_scene_idx ON vouchers.rule (rule_scene, scene_key, scene_item_key) WHERE is_active;
CREATE INDEX rule_listing_idx ON vouchers.rule (scene_key, scene_item_key, rule_order, rule_id);

CREATE TABLE vouchers.rule_version (
  rule_id     text NOT NULL REFERENCES vouchers.rule (rule_id),
  version     integer NOT NULL,
  -- The checked definition (rule-definition.ts RuleDefinition), amounts as exact decimal text; json, not
  -- jsonb: it is only read whole, and answered in the seed's field order as written.
  definition  json NOT NULL,
  -- Who wrote it (the ERP app, an operator) and what changed: created, updated, enabled, disabled.
  changed_by  text NOT NULL,
  change      text NOT NULL CHECK (change IN ('created', 'updated', 'enabled', 'disabled')),
  created_at  timestamptz NOT NULL,
  PRIMARY KEY (rule_id, version)
);

-- One counter per (rule, limitKey, period): period is D<yyyyMMdd>, W<Monday's yyyyMMdd>, M<yyyyMM>, Y<yyyy>
-- (Asia/Shanghai) or T (the item's whole window). A reservation raises it only while it stays within the
-- maximum (a conditional UPDATE under the row's lock), so concurrent reservations never overrun it.
CREATE TABLE vouchers.quota_usage (
  rule_id    text NOT NULL,
  limit_key  text NOT NULL,
  period     text NOT NULL,
  used       bigint NOT NULL CHECK (used >= 0),
  PRIMARY KEY (rule_id, limit_key, period)
);

-- What each reservation charged, so release gives back exactly that, once.
CREATE TABLE vouchers.quota_reservation (
  reservation_id uuid PRIMARY KEY,
  -- The caller's idempotency key (a make-code: sale channel + saleChannelOrderId).
  reference      text NOT NULL UNIQUE,
  charges        jsonb NOT NULL,
  created_at     timestamptz NOT NULL,
  released_at    timestamptz
);
