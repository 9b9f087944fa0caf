-- WHALE's own codes (the internal send channel): the primary key on the code is what makes a collision
-- impossible (a colliding draw is refused and drawn again); (order, seq) makes a repeated make-code answer the
-- codes it made the first time, as an external channel does by its order id.
CREATE TABLE vouchers.internal_code (
  code                  text PRIMARY KEY,
  send_channel_order_id text NOT NULL,
  seq                   integer NOT NULL CHECK (seq > 0),
  status                smallint NOT NULL DEFAULT 1 CHECK (status IN (1, 2, 3)),
  redeemed_at           timestamptz,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  UNIQUE (send_channel_order_id, seq)
);

-- A sale channel's make-code order (制码订单), one per (sale channel, its order id): the unique key makes
-- concurrent repeats one order, and request_hash tells a repeat from another body under the same id (03).
-- status: MAKING while one caller makes its codes (lease_until: a caller that died leaves it to the next
-- repeat), MADE with its codes, FAILED when the send channel failed (a repeat tries again).
CREATE TABLE vouchers.code_order (
  trade_no              text PRIMARY KEY,
  sale_channel_id       text NOT NULL,
  sale_channel_order_id text NOT NULL,
  request_hash          text NOT NULL,
  request_id            text NOT NULL,
  status                text NOT NULL CHECK (status IN ('MAKING', 'MADE', 'FAILED')),
  lease_until           timestamptz,
  -- Claims so far (1 on creation, +1 per reclaim): each claim reserves quota under its own reference, so a
  -- claim that died holding a reservation is over-counted, never under-counted.
  attempt               integer NOT NULL DEFAULT 1,
  sale_channel_item_id  text NOT NULL,
  template_id           text NOT NULL,
  activity_id           text NOT NULL,
  send_channel_id       text NOT NULL,
  ticket_name           text NOT NULL,
  activity_name         text NOT NULL,
  code_num              integer NOT NULL CHECK (code_num > 0),
  use_times             integer NOT NULL CHECK (use_times > 0),
  valid_start           timestamptz NOT NULL,
  valid_end             timestamptz NOT NULL,
  -- The number the SMS notice goes to (orderMobile); only ever this order's.
  order_mobile          text,
  -- When the SMS notice task was handed to the notify service (NULL with a mobile: still to hand over; the
  -- notice job retries it, so a notify outage delays the notice and never loses it).
  notice_queued_at      timestamptz,
  -- Re-sends asked by the ERP (makeNotifyRetry): notice n is `<trade_no>.<n>` at the notify service.
  notice_retries        integer NOT NULL DEFAULT 0,
  failure               text,
  created_at            timestamptz NOT NULL,
  updated_at            timestamptz NOT NULL DEFAULT now(),
  UNIQUE (sale_channel_id, sale_channel_order_id)
);

-- The codes an order made, in the order the send channel answered them. A code is unique per send channel.
CREATE TABLE vouchers.made_code (
  trade_no        text NOT NULL REFERENCES vouchers.code_order (trade_no),
  seq             integer NOT NULL CHECK (seq > 0),
  send_channel_id text NOT NULL,
  code            text NOT NULL,
  url             text NOT NULL,
  channel_ref     text NOT NULL,
  -- The seed's code status: 00 未使用 (unused); redemption (part 2) moves it on.
  status          text NOT NULL DEFAULT '00',
  PRIMARY KEY (trade_no, seq),
  UNIQUE (send_channel_id, code)
);
CREATE INDEX code_order_notice_due_idx ON vouchers.code_order (created_at)
  WHERE status = 'MADE' AND order_mobile IS NOT NULL AND notice_queued_at IS NULL;
