-- What the pipeline's indexing rules need beyond the reference schema.
--
-- Each object is documented in `crates/indexer/SCHEMA.md` and listed as an allowed addition in
-- the parity test. The reference data plane never reads any of them, so it keeps serving from
-- this database unchanged.

-- "Newest wins": the repo revision (a TID) of the commit that wrote the row's current version.
-- A write for the path applies only if its rev is at least this one. '' sorts before every TID,
-- so rows written before a rev was known lose to any real write.
ALTER TABLE record ADD COLUMN rev character varying DEFAULT ''::character varying NOT NULL;

-- A delete leaves the path's uri and the delete's rev here, so that an older create or update
-- arriving later (a backfill snapshot after a live delete, or a replay) is recognised as stale
-- and never brings the record back. Once a newer write recreates the record, its `record.rev`
-- guards the path as well, so the tombstone may then be dropped.
CREATE TABLE record_tombstone (
    uri character varying NOT NULL,
    did character varying NOT NULL,
    rev character varying NOT NULL,
    "indexedAt" character varying NOT NULL
);
ALTER TABLE ONLY record_tombstone
    ADD CONSTRAINT record_tombstone_pkey PRIMARY KEY (uri);
-- An account deletion drops everything a DID authored, tombstones included.
CREATE INDEX record_tombstone_did_idx ON record_tombstone USING btree (did);

-- "Never twice for the same record and reason": the reference indexer notifies each recipient
-- at most once per record, with one reason, so this key holds for everything it writes; with it,
-- a redelivered live event inserts `ON CONFLICT DO NOTHING` instead of notifying again.
CREATE UNIQUE INDEX notification_unique_recipient_record_reason_idx
    ON notification USING btree (did, "recordUri", reason);
