-- An account deletion must not be undone by a late backfill of the same DID.
--
-- `account` events carry no rev to order them against a backfill snapshot, so the deletion is
-- remembered per DID: while a DID is here, record writes for it (a backfill fetched before the
-- deletion, a replayed live event) are stale. A later `account` event with `active: true` (the
-- account is back) removes the row. The reference data plane never reads this table.
CREATE TABLE actor_tombstone (
    did character varying NOT NULL,
    "deletedAt" character varying NOT NULL
);
ALTER TABLE ONLY actor_tombstone
    ADD CONSTRAINT actor_tombstone_pkey PRIMARY KEY (did);
