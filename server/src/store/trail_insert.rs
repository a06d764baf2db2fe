//! The multi-row `INSERT` of request trails: a few fixed statement shapes, each
//! prepared once per connection, with the placeholders each database reads cheaply.
//!
//! Two costs this module keeps off the write-behind, both measured with callgrind
//! (`server/benches/HISTORY.md`, "The overhead regression of 2026-12-02"):
//! - **A new statement text per batch.** The statement's text grows with its row
//!   count; a batch of any size given a text of its own missed sqlx's statement
//!   cache and was parsed again (2,048 bound values at 256 rows). Batches are cut
//!   into statements of 256 rows, then powers of two: nine texts in all, each
//!   built once per process and prepared once per connection.
//! - **Numbered placeholders on SQLite.** SQLite keeps `$n` and `?n` parameters in
//!   a list it searches linearly: once per placeholder while parsing, and again for
//!   each one sqlx binds (it asks each parameter's name). Over 2,048 values that is
//!   quadratic. Anonymous `?` parameters are bound by position with no list.
//!   PostgreSQL reads only `$n`, and its parser has no such list.

use std::sync::{Arc, LazyLock};

use sqlx::AnyConnection;

use super::Dialect;
use super::trails::steps_json;
use crate::domain::{FailureReason, Trail};

/// Rows of the largest statement (8 bound values each: 2,048, far under the
/// limits of SQLite and PostgreSQL).
const MAX_ROWS: usize = 256;
/// Statement shapes: 1, 2, 4, ..., `MAX_ROWS` rows.
const SHAPES: usize = MAX_ROWS.trailing_zeros() as usize + 1;
const COLUMNS: usize = 8;

/// The statement texts of each dialect, by shape (`rows == 1 << index`).
static SQLITE_SQL: LazyLock<[String; SHAPES]> =
    LazyLock::new(|| std::array::from_fn(|i| insert_sql(Dialect::Sqlite, 1 << i)));
static POSTGRES_SQL: LazyLock<[String; SHAPES]> =
    LazyLock::new(|| std::array::from_fn(|i| insert_sql(Dialect::Postgres, 1 << i)));

/// Inserts trails, one row each, in multi-row statements: a few round trips to the
/// database per batch of writes. A trail already stored is left as it is.
pub(super) async fn write_trails(
    tx: &mut AnyConnection,
    dialect: Dialect,
    trails: &[Arc<Trail>],
) -> Result<(), sqlx::Error> {
    let texts: &'static [String; SHAPES] = match dialect {
        Dialect::Sqlite => &SQLITE_SQL,
        Dialect::Postgres => &POSTGRES_SQL,
    };
    let mut rest = trails;
    while !rest.is_empty() {
        let shape = shape_of(rest.len());
        let (chunk, tail) = rest.split_at(1 << shape);
        let mut query = sqlx::query(texts[shape].as_str());
        for trail in chunk {
            query = query
                .bind(trail.request_id.clone())
                .bind(trail.caller.kind())
                .bind(trail.caller.task().map(str::to_owned))
                .bind(trail.created_at as i64)
                .bind(if trail.failure.is_some() {
                    "failed"
                } else {
                    "succeeded"
                })
                .bind(trail.failure.map(FailureReason::as_str))
                .bind(serde_json::to_string(&trail.candidates).unwrap_or_default())
                .bind(steps_json(&trail.steps));
        }
        query.execute(&mut *tx).await?;
        rest = tail;
    }
    Ok(())
}

/// The shape (log2 of its rows) of the next statement for `pending` rows (> 0):
/// the largest power of two not above them, at most `MAX_ROWS`.
fn shape_of(pending: usize) -> usize {
    let rows = pending.clamp(1, MAX_ROWS);
    (usize::BITS - 1 - rows.leading_zeros()) as usize
}

/// The INSERT of `rows` trails: `?` placeholders on SQLite, `$n` on PostgreSQL.
fn insert_sql(dialect: Dialect, rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO requests
             (id, caller_kind, task, created_at, outcome, failure_reason, candidates, steps)
         VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..COLUMNS {
            if column > 0 {
                sql.push_str(", ");
            }
            match dialect {
                Dialect::Sqlite => sql.push('?'),
                Dialect::Postgres => {
                    sql.push('$');
                    sql.push_str(&(row * COLUMNS + column + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (id) DO NOTHING");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_into_nine_shapes() {
        let mut seen = std::collections::BTreeSet::new();
        for total in 1..=2_000 {
            let mut rest = total;
            let mut statements = 0;
            while rest > 0 {
                let rows = 1 << shape_of(rest);
                assert!(
                    rows <= rest && rows <= MAX_ROWS,
                    "{total}: {rows} of {rest}"
                );
                seen.insert(rows);
                rest -= rows;
                statements += 1;
            }
            // At most the full statements and one per bit of the remainder.
            assert!(statements <= total / MAX_ROWS + 8, "{total}: {statements}");
        }
        assert_eq!(seen.len(), SHAPES);
    }

    #[test]
    fn sqlite_placeholders_are_anonymous_and_postgres_numbered() {
        let sqlite = insert_sql(Dialect::Sqlite, 2);
        assert!(!sqlite.contains('$'), "{sqlite}");
        assert_eq!(sqlite.matches('?').count(), 2 * COLUMNS);
        let postgres = insert_sql(Dialect::Postgres, 2);
        assert!(postgres.contains("$16)"), "{postgres}");
        assert!(!postgres.contains('?'), "{postgres}");
    }

    crate::store::tests::both_backends! {
        async fn a_batch_of_every_shape_is_written_whole_and_once(db) {
            use crate::store::Store;
            use crate::store::tests::{key, trail};
            use crate::store::trails::testing::{count_all, count_present};
            // 511 trails: one statement of each of the nine shapes. The same batch
            // again changes nothing (a stored trail is left as it is).
            let store = Store::open_at(&db, key()).await.unwrap();
            let ids: Vec<String> = (0..511).map(|i| format!("r{i:05}")).collect();
            let batch: Vec<Arc<Trail>> = ids
                .iter()
                .zip(0..)
                .map(|(id, at)| Arc::new(trail(id, at)))
                .collect();
            store.write_batch(&[], &batch).await.unwrap();
            store.write_batch(&[], &batch).await.unwrap();
            assert_eq!(count_all(&store).await, 511);
            assert_eq!(count_present(&store, &ids).await, 511);
            let last = store.trail("r00510").await.unwrap().unwrap();
            assert_eq!(last, *batch[510]);
        }
    }
}
