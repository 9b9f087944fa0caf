-- Service types (服务编码): each carries the AES secret PSBC encrypts its requests with.
CREATE TABLE orders.service_type (
  type                text PRIMARY KEY CHECK (length(type) BETWEEN 1 AND 6),
  name                text NOT NULL,
  aes_key             text NOT NULL CHECK (length(aes_key) = 16),
  aes_iv              text NOT NULL CHECK (length(aes_iv) = 16),
  provider_code       text NOT NULL,
  voucher_template_id text NOT NULL,
  send_channel        text NOT NULL,
  validity_days       integer NOT NULL CHECK (validity_days > 0),
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);

-- One order per rights code, for ever: the unique constraint on code is the real guard against double
-- booking (the Redis lock only keeps concurrent requests from doing the work twice).
-- The *_at step columns record how far the booking and cancel sagas got, so a retry resumes there.
CREATE TABLE orders.rights_order (
  order_no          text PRIMARY KEY,
  code              text NOT NULL CONSTRAINT rights_order_code_unique UNIQUE,
  type              text NOT NULL REFERENCES orders.service_type (type),
  mac               text NOT NULL,
  channel           text NOT NULL,
  tran_chnl         text NOT NULL,
  inst_type         text NOT NULL,
  province_inst_no  text NOT NULL,
  back_url          text NOT NULL DEFAULT '',
  status            smallint NOT NULL DEFAULT 100 CHECK (status IN (100, 200, 300, 400, 500)),
  key_status        smallint NOT NULL DEFAULT 0 CHECK (key_status BETWEEN 0 AND 4),
  expire_at         timestamptz NOT NULL,
  psbc_order_no     text,
  psbc_booked_at    timestamptz,
  voucher_no        text,
  voucher_url       text,
  booked_at         timestamptz,
  voucher_voided_at timestamptz,
  psbc_cancelled_at timestamptz,
  cancelled_at      timestamptz,
  key_usage_time    timestamptz,
  completed_at      timestamptz,
  last_error        text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX rights_order_status_idx ON orders.rights_order (status, updated_at);

-- The transactional outbox: events are written here in the same transaction as the change they announce,
-- and the relay publishes them to JetStream with the row id as Nats-Msg-Id.
CREATE TABLE orders.outbox (
  id           uuid PRIMARY KEY,
  subject      text NOT NULL,
  payload      bytea NOT NULL,
  trace_id     text,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  published_at timestamptz
);
CREATE INDEX outbox_unpublished_idx ON orders.outbox (created_at) WHERE published_at IS NULL;
