//! Labels: one `label` row per `(src, uri, cid, val)`; a negation removes the row and is
//! remembered in `label_negation`.
//!
//! Newest `cts` wins per key (on equal `cts` the negation wins): a batch's labels are collapsed
//! to the winner per key, so one bulk upsert and one bulk delete apply them. A positive label
//! older than the stored one, or not newer than the key's remembered negation, changes nothing,
//! so replaying an older label can neither roll back a newer one nor bring back a negated one.
//! `\u0000` is removed.
//!
//! Labels have no DID lock, and the frames of one labeler are not handled in order: two
//! batches may write the same key at once. Neither would see the other's uncommitted row (a
//! negation deleting nothing while a positive goes in, the positive not seeing the negation),
//! so each batch first locks its keys ([`locks`]). They are taken after the DID locks and
//! before the aggregates, in every batch, so no two batches wait on each other in a cycle.

use std::collections::HashMap;

use sqlx::PgConnection;
use streams::payloads::Label;

use super::error::{ApplyError, Step};
use super::indexed_at;
use super::locks::{self, LABEL_LOCKS};

/// A label ready for its row.
struct Row {
    src: String,
    uri: String,
    cid: String,
    val: String,
    neg: bool,
    cts: String,
    exp: Option<String>,
}

impl Row {
    /// Whether `self` wins over `other` for the same key: newer `cts`, or a negation on a tie.
    fn beats(&self, other: &Row) -> bool {
        (self.cts.as_str(), self.neg) > (other.cts.as_str(), other.neg)
    }
}

fn clean(s: &str) -> String {
    s.replace('\0', "")
}

/// The winning label per key.
fn collapse(labels: &[&Label]) -> Vec<Row> {
    let mut winners: HashMap<(String, String, String, String), Row> = HashMap::new();
    for l in labels {
        let row = Row {
            src: clean(&l.src),
            uri: clean(&l.uri),
            cid: l.cid.as_deref().map(clean).unwrap_or_default(),
            val: clean(&l.val),
            neg: l.neg.unwrap_or(false),
            cts: indexed_at(&l.cts),
            exp: l.exp.as_deref().map(indexed_at),
        };
        let key = (
            row.src.clone(),
            row.uri.clone(),
            row.cid.clone(),
            row.val.clone(),
        );
        match winners.get(&key) {
            Some(current) if !row.beats(current) => {}
            _ => {
                winners.insert(key, row);
            }
        }
    }
    let mut rows: Vec<Row> = winners.into_values().collect();
    // One lock order for every batch.
    rows.sort_by(|a, b| (&a.src, &a.uri, &a.cid, &a.val).cmp(&(&b.src, &b.uri, &b.cid, &b.val)));
    rows
}

/// The text whose `hashtext` is a label key's advisory lock in [`LABEL_LOCKS`]: the key's
/// parts as stored (NUL removed; `cid` empty for an account) joined by `\u{1}`.
pub fn label_lock_key(src: &str, uri: &str, cid: &str, val: &str) -> String {
    [src, uri, cid, val].join("\u{1}")
}

/// Applies `labels`.
pub(crate) async fn apply(conn: &mut PgConnection, labels: &[&Label]) -> Result<(), ApplyError> {
    let rows = collapse(labels);
    if rows.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = rows
        .iter()
        .map(|r| label_lock_key(&r.src, &r.uri, &r.cid, &r.val))
        .collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    locks::lock(conn, LABEL_LOCKS, &keys, "locking label keys").await?;
    let (neg, pos): (Vec<Row>, Vec<Row>) = rows.into_iter().partition(|r| r.neg);
    if !pos.is_empty() {
        let col = |f: fn(&Row) -> &str| pos.iter().map(|r| f(r).to_owned()).collect::<Vec<_>>();
        sqlx::query(
            r#"INSERT INTO label (src, uri, cid, val, neg, cts, exp)
               SELECT s, u, c, v, false, t, e
               FROM (SELECT unnest($1::text[]) AS s, unnest($2::text[]) AS u,
                 unnest($3::text[]) AS c, unnest($4::text[]) AS v, unnest($5::text[]) AS t,
                 unnest($6::text[]) AS e) AS x
               WHERE NOT EXISTS (SELECT 1 FROM label_negation n
                 WHERE n.src = x.s AND n.uri = x.u AND n.cid = x.c AND n.val = x.v
                   AND n.cts >= x.t)
               ORDER BY s, u, c, v
               ON CONFLICT (src, uri, cid, val) DO UPDATE SET neg = false, cts = excluded.cts,
                 exp = excluded.exp
               WHERE label.cts <= excluded.cts"#,
        )
        .bind(col(|r| &r.src))
        .bind(col(|r| &r.uri))
        .bind(col(|r| &r.cid))
        .bind(col(|r| &r.val))
        .bind(col(|r| &r.cts))
        .bind(pos.iter().map(|r| r.exp.clone()).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await
        .step("writing labels")?;
    }
    if !neg.is_empty() {
        let col = |f: fn(&Row) -> &str| neg.iter().map(|r| f(r).to_owned()).collect::<Vec<_>>();
        sqlx::query(
            r#"WITH x AS (
                 SELECT unnest($1::text[]) AS s, unnest($2::text[]) AS u,
                   unnest($3::text[]) AS c, unnest($4::text[]) AS v, unnest($5::text[]) AS t
               ), gone AS (
                 DELETE FROM label l USING x
                 WHERE l.src = x.s AND l.uri = x.u AND l.cid = x.c AND l.val = x.v
                   AND l.cts <= x.t
               )
               INSERT INTO label_negation (src, uri, cid, val, cts)
               SELECT s, u, c, v, t FROM x ORDER BY s, u, c, v
               ON CONFLICT (src, uri, cid, val) DO UPDATE SET cts = excluded.cts
               WHERE label_negation.cts < excluded.cts"#,
        )
        .bind(col(|r| &r.src))
        .bind(col(|r| &r.uri))
        .bind(col(|r| &r.cid))
        .bind(col(|r| &r.val))
        .bind(col(|r| &r.cts))
        .execute(&mut *conn)
        .await
        .step("negating labels")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(val: &str, neg: bool, cts: &str) -> Label {
        Label {
            ver: 1,
            src: "did:plc:l".into(),
            uri: "did:plc:x".into(),
            cid: None,
            val: val.into(),
            neg: Some(neg),
            cts: cts.into(),
            exp: None,
            sig: None,
        }
    }

    #[test]
    fn newest_cts_wins_and_a_negation_wins_a_tie() {
        let older_positive_last = [
            label("a", true, "2026-02-01T00:00:00.000Z"),
            label("a", false, "2026-01-01T00:00:00.000Z"),
        ];
        let tie = [
            label("b", true, "2026-01-01T00:00:00.000Z"),
            label("b", false, "2026-01-01T00:00:00.000Z"),
        ];
        let newer_positive = [
            label("c", true, "2026-01-01T00:00:00.000Z"),
            label("c", false, "2026-03-01T00:00:00.000Z"),
        ];
        for (labels, neg) in [
            (&older_positive_last, true),
            (&tie, true),
            (&newer_positive, false),
        ] {
            let refs: Vec<&Label> = labels.iter().collect();
            let rows = collapse(&refs);
            assert_eq!(rows.len(), 1);
            assert!(rows.iter().all(|r| r.neg == neg), "{}", labels[0].val);
        }
    }
}
