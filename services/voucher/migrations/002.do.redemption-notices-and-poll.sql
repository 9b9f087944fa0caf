-- Redemption: a send channel's notice names the voucher by its number; the status poll claims vouchers issued
-- and not redeemed whose next poll is due (NULL: never polled, due now), so replicas share them.
CREATE UNIQUE INDEX voucher_channel_voucher_no_idx ON vouchers.voucher (send_channel, voucher_no) WHERE voucher_no IS NOT NULL;
ALTER TABLE vouchers.voucher
  ADD COLUMN next_poll_at timestamptz,
  ADD COLUMN redemption_notice_id text,
  ADD COLUMN expired_at timestamptz;
CREATE INDEX voucher_poll_due_idx ON vouchers.voucher (next_poll_at NULLS FIRST) WHERE key_status = 1;

-- The nonces of the signed notices received, so a replayed notice is refused. Kept past the signature's skew
-- window (a notice older than that is refused by its timestamp), then pruned by the status poll.
CREATE TABLE vouchers.notice_nonce (
  send_channel text NOT NULL,
  nonce        text NOT NULL,
  seen_at      timestamptz NOT NULL,
  PRIMARY KEY (send_channel, nonce)
);
CREATE INDEX notice_nonce_seen_idx ON vouchers.notice_nonce (seen_at);
