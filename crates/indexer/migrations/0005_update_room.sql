-- Room for updates in the rows the indexer updates all the time.
--
-- `actor_sync` moves on every live commit of its DID, and `post_agg` / `profile_agg` on every
-- like, repost, reply, quote, follow and post of their subject. Packed pages (the default
-- fillfactor, 100) leave no room for a new row version, so each of those updates moves the row
-- to another page and adds an index entry (about three WAL records instead of one). Leaving
-- part of each page free lets PostgreSQL update them in place (HOT updates). Storage settings
-- only: the columns, keys and indexes stay the reference's.
ALTER TABLE actor_sync SET (fillfactor = 70);
ALTER TABLE post_agg SET (fillfactor = 80);
ALTER TABLE profile_agg SET (fillfactor = 70);
