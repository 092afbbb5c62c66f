//! The rev guard: given what is stored for a path and an incoming write or delete of it, what
//! the round does. Newest wins by `rev`; a tombstone holds off writes as old as itself; a
//! deleted account holds off everything. Pure, so each rule is tested without a database;
//! [`super::paths`] reads the stored state and carries the decision out.

/// What is stored for a path.
#[derive(Debug, Default)]
pub(super) struct Stored {
    /// `record.rev` and `record.cid`, when a record row exists.
    pub(super) record: Option<(String, String)>,
    /// The tombstone's rev, when the path was deleted.
    pub(super) tombstone: Option<String>,
    /// The repo's account is deleted (`actor_tombstone`).
    pub(super) account_deleted: bool,
}

/// Why an event changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Skip {
    /// Older than what is stored, or the account is deleted.
    Stale,
    /// What is stored already says this.
    Unchanged,
}

/// How a write goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WritePlan {
    /// A stored version is replaced: its rows go first.
    pub(super) replaces: bool,
    /// The path had a tombstone, which goes: the new record's rev guards it from now on.
    pub(super) revives: bool,
}

/// How a delete goes in (its tombstone is always raised).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DeletePlan {
    /// A stored version goes with it.
    pub(super) removes: bool,
}

/// Revs are TIDs: their string order is their time order.
fn stored_is_newer(stored: &Stored, rev: &str) -> bool {
    stored
        .record
        .as_ref()
        .is_some_and(|(stored, _)| stored.as_str() > rev)
}

/// The guard's answer to a create or update at `rev` of the record `cid`.
pub(super) fn write(stored: &Stored, rev: &str, cid: &str) -> Result<WritePlan, Skip> {
    let tombstone = stored.tombstone.as_deref();
    if stored.account_deleted || tombstone.is_some_and(|t| t >= rev) || stored_is_newer(stored, rev)
    {
        return Err(Skip::Stale);
    }
    if stored
        .record
        .as_ref()
        .is_some_and(|(r, c)| r == rev && c == cid)
    {
        return Err(Skip::Unchanged);
    }
    Ok(WritePlan {
        replaces: stored.record.is_some(),
        revives: tombstone.is_some(),
    })
}

/// The guard's answer to a delete at `rev`.
pub(super) fn delete(stored: &Stored, rev: &str) -> Result<DeletePlan, Skip> {
    if stored.account_deleted || stored_is_newer(stored, rev) {
        return Err(Skip::Stale);
    }
    if stored.record.is_none() && stored.tombstone.as_deref().is_some_and(|t| t >= rev) {
        return Err(Skip::Unchanged);
    }
    Ok(DeletePlan {
        removes: stored.record.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "3l3qo2vutsw2a";
    const REV: &str = "3l3qo2vutsw2b";
    const NEW: &str = "3l3qo2vutsw2c";

    fn record(rev: &str, cid: &str) -> Stored {
        Stored {
            record: Some((rev.into(), cid.into())),
            ..Stored::default()
        }
    }

    fn tombstone(rev: &str) -> Stored {
        Stored {
            tombstone: Some(rev.into()),
            ..Stored::default()
        }
    }

    /// A write of the record `c2` at `rev`.
    fn w(stored: &Stored, rev: &str) -> Result<WritePlan, Skip> {
        write(stored, rev, "c2")
    }

    fn plan(replaces: bool, revives: bool) -> Result<WritePlan, Skip> {
        Ok(WritePlan { replaces, revives })
    }

    fn removes(removes: bool) -> Result<DeletePlan, Skip> {
        Ok(DeletePlan { removes })
    }

    #[test]
    fn a_write_to_an_empty_path_is_fresh() {
        assert_eq!(w(&Stored::default(), REV), plan(false, false));
    }

    #[test]
    fn a_write_replaces_an_older_or_different_version_only() {
        assert_eq!(w(&record(OLD, "c1"), REV), plan(true, false));
        // Same rev, another record: the event wins (a resync of a rewritten repo).
        assert_eq!(w(&record(REV, "c1"), REV), plan(true, false));
        assert_eq!(w(&record(REV, "c2"), REV), Err(Skip::Unchanged));
        assert_eq!(w(&record(NEW, "c1"), REV), Err(Skip::Stale));
    }

    #[test]
    fn a_tombstone_holds_off_writes_as_old_as_itself() {
        assert_eq!(w(&tombstone(REV), REV), Err(Skip::Stale));
        assert_eq!(w(&tombstone(NEW), REV), Err(Skip::Stale));
        assert_eq!(w(&tombstone(OLD), REV), plan(false, true));
    }

    #[test]
    fn a_delete_goes_through_unless_something_newer_is_stored() {
        assert_eq!(delete(&record(OLD, "c1"), REV), removes(true));
        assert_eq!(delete(&record(REV, "c1"), REV), removes(true));
        assert_eq!(delete(&record(NEW, "c1"), REV), Err(Skip::Stale));
        // Nothing stored: the tombstone still goes up, so a late backfill cannot undo it.
        assert_eq!(delete(&Stored::default(), REV), removes(false));
    }

    #[test]
    fn a_delete_over_a_tombstone_moves_it_forward_only() {
        assert_eq!(delete(&tombstone(REV), REV), Err(Skip::Unchanged));
        assert_eq!(delete(&tombstone(NEW), REV), Err(Skip::Unchanged));
        assert_eq!(delete(&tombstone(OLD), REV), removes(false));
    }

    #[test]
    fn a_deleted_account_holds_off_everything() {
        for mut stored in [Stored::default(), record(OLD, "c1"), tombstone(OLD)] {
            stored.account_deleted = true;
            assert_eq!(w(&stored, REV), Err(Skip::Stale));
            assert_eq!(delete(&stored, REV), Err(Skip::Stale));
        }
    }
}
