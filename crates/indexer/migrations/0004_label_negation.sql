-- Label negations must survive a replay of the label they negate.
--
-- A negation removes the `label` row, which leaves nothing to compare a replayed older positive
-- label's `cts` with. The newest negation per (src, uri, cid, val) is kept here: a positive label
-- applies only if its `cts` is newer than this one's (equal `cts`: the negation wins). One row
-- per negated label, never more. The reference data plane never reads this table.
CREATE TABLE label_negation (
    src character varying NOT NULL,
    uri character varying NOT NULL,
    cid character varying NOT NULL,
    val character varying NOT NULL,
    cts character varying NOT NULL
);
ALTER TABLE ONLY label_negation
    ADD CONSTRAINT label_negation_pkey PRIMARY KEY (src, uri, cid, val);
