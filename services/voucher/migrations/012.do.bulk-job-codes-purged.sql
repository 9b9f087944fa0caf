-- A cancelled bulk job's codes are never exported, so nobody holds them: the voucher service's "cancelled bulk
-- codes" job deletes them a batch at a time, and this says when the last went (NULL: some may be left).
ALTER TABLE vouchers.bulk_job ADD COLUMN codes_purged_at timestamptz;
