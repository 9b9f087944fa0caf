-- Batch re-push looks up redeemed orders PSBC has not acknowledged by usage time: only those rows are indexed.
CREATE INDEX rights_order_redeemed_uncompleted_idx ON orders.rights_order (key_usage_time)
  WHERE status = 200 AND key_status = 2;
