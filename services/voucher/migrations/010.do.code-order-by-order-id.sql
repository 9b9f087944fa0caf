-- The back office's notice actions find make-code orders by the sale channel's order id alone (seed 002): an
-- index for it, since every PSBC booking is a code order now and the table grows with the bookings.
CREATE INDEX code_order_sale_channel_order_id_idx ON vouchers.code_order (sale_channel_order_id, created_at DESC);
