-- Durable notification tasks. A worker claims due pending tasks with FOR UPDATE SKIP LOCKED, so any number of
-- replicas and workers share them; a claim moves next_attempt_at to the lease's end (claimed_until, with a
-- claim id), so a worker killed mid-delivery leaves the task due again once its lease expires.
CREATE TABLE notify.task (
  task_id         uuid PRIMARY KEY,
  -- 1 service complete to PSBC; 2 SMS and 3 channel callbacks later (rights.notify.v1.TaskType).
  type            smallint NOT NULL CHECK (type > 0),
  -- 1 pending, 2 delivered, 3 dead (rights.notify.v1.TaskState).
  state           smallint NOT NULL DEFAULT 1 CHECK (state IN (1, 2, 3)),
  order_no        text NOT NULL,
  code            text NOT NULL,
  -- What the delivery port of the type sends (for type 1: the ServiceCompleteNotice fields).
  payload         jsonb NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  claimed_until   timestamptz,
  claim_id        uuid,
  last_error      text,
  created_at      timestamptz NOT NULL,
  delivered_at    timestamptz
);
-- One waiting task per (type, code): a duplicate event or re-push creates nothing.
CREATE UNIQUE INDEX task_waiting_unique ON notify.task (type, code) WHERE state = 1;
CREATE INDEX task_due_idx ON notify.task (next_attempt_at) WHERE state = 1;
CREATE INDEX task_listing_idx ON notify.task (state, created_at DESC);
CREATE INDEX task_code_idx ON notify.task (code);
