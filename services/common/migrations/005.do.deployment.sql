-- The deployment (PLATFORM_INSTANCE) whose services use this schema, claimed by the first to start: table and
-- schema names are the same in every release, so a second release pointed at this database would share its
-- rows (its outbox, its claims). One row at most.
CREATE TABLE IF NOT EXISTS deployment (
  single boolean PRIMARY KEY DEFAULT true CHECK (single),
  instance text NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now()
);
