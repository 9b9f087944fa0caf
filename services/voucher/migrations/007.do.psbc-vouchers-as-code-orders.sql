-- A PSBC booking's voucher is a make-code order of the PSBC sale channel (issue 10): the code is made, counted
-- against the make-code quotas and kept as the order's made_code; this row stays the PSBC voucher's lifecycle
-- (key status, void, expiry, redemption, the status poll) and now names its code order and where its code is.
--   trade_no        the code order (NULL for rows made before, whose code Blue Brothers made under order_no);
--   send_channel_id the catalogue send channel that made the code (NULL before: send_channel names the adapter);
--   channel_ref     the channel's reference of the code for void and query (MadeCode.channelRef); NULL before,
--                   read as order_no, the outOrderNo those codes were made under.
-- send_channel keeps naming the adapter (BLUE_BROTHERS), which a redemption notice finds the voucher by; a row
-- since this migration has '' there until its code is made.
ALTER TABLE vouchers.voucher
  ADD COLUMN trade_no text UNIQUE REFERENCES vouchers.code_order (trade_no),
  ADD COLUMN send_channel_id text,
  ADD COLUMN channel_ref text;
