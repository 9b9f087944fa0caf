-- A bulk job an operator stops (`whale bulk cancel`): CANCELLED, its runner stops at its next batch, the codes made
-- so far stay unexported.
ALTER TABLE vouchers.bulk_job DROP CONSTRAINT bulk_job_state_check;
ALTER TABLE vouchers.bulk_job ADD CONSTRAINT bulk_job_state_check CHECK (state IN ('RUNNING', 'DONE', 'CANCELLED'));
