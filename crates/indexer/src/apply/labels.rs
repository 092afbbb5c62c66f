//! Labels: one `label` row per `(src, uri, cid, val)`; a negation removes the row.
//!
//! A batch's labels are collapsed to the last one per key (stream order), so one bulk upsert
//! and one bulk delete apply them. A label older (`cts`) than the stored one changes nothing, so
//! a replay cannot bring back a negated label or roll back a newer one. `\u0000` is removed.

use std::collections::HashMap;

use sqlx::PgConnection;
use streams::payloads::Label;

use super::error::{ApplyError, Step};
use super::indexed_at;

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

fn clean(s: &str) -> String {
    s.replace('\0', "")
}

/// Applies `labels`, in order.
pub(crate) async fn apply(conn: &mut PgConnection, labels: &[&Label]) -> Result<(), ApplyError> {
    let mut last: HashMap<(String, String, String, String), Row> = HashMap::new();
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
        last.insert(key, row);
    }
    let (neg, pos): (Vec<Row>, Vec<Row>) = last.into_values().partition(|r| r.neg);
    if !pos.is_empty() {
        let col = |f: fn(&Row) -> &str| pos.iter().map(|r| f(r).to_owned()).collect::<Vec<_>>();
        sqlx::query(
            r#"INSERT INTO label (src, uri, cid, val, neg, cts, exp)
               SELECT s, u, c, v, false, t, e
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                 AS x(s, u, c, v, t, e)
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
            r#"DELETE FROM label l
               USING unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                 AS x(s, u, c, v, t)
               WHERE l.src = x.s AND l.uri = x.u AND l.cid = x.c AND l.val = x.v
                 AND l.cts <= x.t"#,
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
