-- The expiry job claims due orders for a while (a lease on the business clock), so replicas share them and a
-- replica that died mid-way leaves its claims to lapse and be taken again: each step of an expiry is idempotent.
ALTER TABLE orders.rights_order ADD COLUMN expiry_claimed_until timestamptz;
-- Due orders: live (100, 200), or marked expired by a request (500) whose voucher is still live upstream.
CREATE INDEX rights_order_expiry_due_idx ON orders.rights_order (expire_at)
  WHERE status IN (100, 200) AND key_status <> 2 OR status = 500 AND key_status IN (0, 1);
