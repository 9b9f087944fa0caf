-- Bulk make-code (批导): a background job making `total` codes of a sendType-2 template with WHALE's own
-- generator. Its codes are vouchers.internal_code rows of send_channel_order_id 'bulk:<job_id>', seq 1..total
-- (the code's primary key keeps them distinct from every other code; (order, seq) keeps a batch from being
-- written twice). `made` moves in the transaction that writes a batch, so a restart resumes exactly there; a
-- runner holds the job under a lease (lease_owner, lease_until) so two replicas never make one job at once.
CREATE TABLE vouchers.bulk_job (
  job_id          text PRIMARY KEY,
  request_id      text NOT NULL UNIQUE,
  template_id     text NOT NULL,
  send_channel_id text NOT NULL,
  total           integer NOT NULL CHECK (total BETWEEN 1 AND 1000000),
  made            integer NOT NULL DEFAULT 0 CHECK (made >= 0 AND made <= total),
  state           text NOT NULL DEFAULT 'RUNNING' CHECK (state IN ('RUNNING', 'DONE')),
  lease_owner     text,
  lease_until     timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bulk_job_running_idx ON vouchers.bulk_job (created_at) WHERE state = 'RUNNING';
