//! One bulk statement over text (and a few `bool`) columns: each column is a `$n::text[]`
//! array with a value per row, so a round writes a table with one round trip however many rows
//! it has.
//!
//! Statements unnest their arrays in the select list (`SELECT unnest($1::text[]) AS uri, …`),
//! never `FROM unnest($1, $2, …)`: PostgreSQL walks select-list arrays in step, where the
//! multi-argument form first copies each array into a tuple store. Measured on this write path:
//! about a sixth of the server time of the inserts.
//!
//! Columns borrow the rows' strings: a batch binds tens of thousands of them, and copying each
//! into an owned `String` first cost a tenth of the write path's CPU.
//!
//! Statements whose `RETURNING` names more than one column are run where they are written,
//! with [`bind`]; everything else goes through [`run`].

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::QueryAs;
use sqlx::{Arguments, FromRow, PgConnection, Postgres};

use super::error::{ApplyError, Step};

/// One array parameter of a bulk statement: a value per row, in row order.
pub(super) enum Column<'a> {
    /// A `NOT NULL` text column.
    Text(Vec<&'a str>),
    /// A nullable text column.
    Nullable(Vec<Option<&'a str>>),
    /// A `bool` column.
    Flag(Vec<bool>),
}

impl Column<'_> {
    /// About the bytes of its binary array encoding: a header, then a length and the bytes of
    /// each value.
    fn encoded_len(&self) -> usize {
        const HEADER: usize = 32;
        HEADER
            + match self {
                Column::Text(v) => v.iter().map(|s| 4 + s.len()).sum::<usize>(),
                Column::Nullable(v) => v.iter().map(|s| 4 + s.map_or(0, str::len)).sum(),
                Column::Flag(v) => 5 * v.len(),
            }
    }

    fn is_empty(&self) -> bool {
        match self {
            Column::Text(v) => v.is_empty(),
            Column::Nullable(v) => v.is_empty(),
            Column::Flag(v) => v.is_empty(),
        }
    }
}

/// A text column of `rows`.
pub(super) fn col<'a, T>(rows: &[&'a T], f: impl Fn(&'a T) -> &'a str) -> Column<'a> {
    Column::Text(rows.iter().map(|r| f(r)).collect())
}

/// A nullable text column of `rows`.
pub(super) fn ocol<'a, T>(rows: &[&'a T], f: impl Fn(&'a T) -> Option<&'a str>) -> Column<'a> {
    Column::Nullable(rows.iter().map(|r| f(r)).collect())
}

/// `sql` with `columns` bound as `$1, $2, …`.
pub(super) fn bind<'q, O>(
    sql: &'static str,
    columns: Vec<Column<'q>>,
) -> QueryAs<'q, Postgres, O, PgArguments>
where
    O: for<'r> FromRow<'r, PgRow>,
{
    // Sized once: bound into the default empty buffer, tens of thousands of values grow it by
    // doubling, copying everything bound so far each time.
    let bytes = columns.iter().map(Column::encoded_len).sum();
    let mut arguments = PgArguments::default();
    arguments.reserve(columns.len(), bytes);
    let mut query = sqlx::query_as_with(sql, arguments);
    for column in columns {
        query = match column {
            Column::Text(v) => query.bind(v),
            Column::Nullable(v) => query.bind(v),
            Column::Flag(v) => query.bind(v),
        };
    }
    query
}

/// Runs `sql` with `columns` bound as `$1, $2, …`, labelling a failure with `step`; returns
/// the one text column its `RETURNING` names (empty without `RETURNING`). No rows: nothing is
/// sent, since an empty round has nothing to write.
pub(super) async fn run(
    conn: &mut PgConnection,
    sql: &'static str,
    columns: Vec<Column<'_>>,
    step: &'static str,
) -> Result<Vec<String>, ApplyError> {
    if columns.first().is_none_or(Column::is_empty) {
        return Ok(Vec::new());
    }
    let done: Vec<(String,)> = bind(sql, columns).fetch_all(&mut *conn).await.step(step)?;
    Ok(done.into_iter().map(|(v,)| v).collect())
}
