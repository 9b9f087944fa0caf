-- When an upstream refused a booking step for good (a business rejection, not a timeout), the same request
-- would be refused again: the next appointment of the code starts the booking over with its own request
-- fields instead of retrying the refused ones for ever. NULL: no refusal since the last restart.
ALTER TABLE orders.rights_order ADD COLUMN booking_refused_at timestamptz;
