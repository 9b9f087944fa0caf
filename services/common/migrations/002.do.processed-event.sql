-- The events each consumer of the service has handled, written in the same transaction as the handler's change:
-- a redelivery or a re-publish of the same event id finds its row and changes nothing.
CREATE TABLE processed_event (
  consumer   text NOT NULL,
  event_id   text NOT NULL,
  handled_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
