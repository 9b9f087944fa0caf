-- One voucher per order of ours: the primary key on order_no makes issue idempotent, and the same order_no is
-- the idempotency key (outOrderNo) at the send channel, so a retried issue never makes a second code upstream.
CREATE TABLE vouchers.voucher (
  order_no     text PRIMARY KEY,
  send_channel text NOT NULL,
  template_id  text NOT NULL,
  rights_code  text NOT NULL,
  voucher_no   text,
  url          text,
  key_status   smallint NOT NULL DEFAULT 0 CHECK (key_status BETWEEN 0 AND 4),
  issued_at    timestamptz,
  voided_at    timestamptz,
  redeemed_at  timestamptz,
  last_error   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- The transactional outbox: events are written here in the same transaction as the change they announce,
-- and the relay publishes them to JetStream with the row id as Nats-Msg-Id.
CREATE TABLE vouchers.outbox (
  id           uuid PRIMARY KEY,
  subject      text NOT NULL,
  payload      bytea NOT NULL,
  trace_id     text,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  published_at timestamptz
);
CREATE INDEX outbox_unpublished_idx ON vouchers.outbox (created_at) WHERE published_at IS NULL;
