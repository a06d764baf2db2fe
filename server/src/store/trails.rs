//! Request trails: one `requests` row per call (its steps as JSON),
//! written in multi-row batches by the write-behind task, read by `ExplainFallback`,
//! and pruned to the newest `database.trail_retention` rows.
//!
//! Pruning goes by `rowid` (SQLite) or `seq` (PostgreSQL, an identity column):
//! rows are only ever appended, so the newest rowid minus
//! the retention bounds what may go. Each prune is one ranged `DELETE` of at most a
//! batch of rows at the low end of the table: its cost follows the rows deleted,
//! never the rows kept (a scan of a million-row table took 278 ms and overflowed
//! the write queue).

use sqlx::{AnyConnection, Row};

use super::{At as _, Dialect, Store, StoreError};
use crate::domain::{
    Action, Caller, CandidateSummary, ErrorClass, FailureReason, Millis, Step, Trail,
};

// === impl Store ===

impl Store {
    /// Deletes the oldest trails beyond the newest `keep`, at most `max_rows` of
    /// them. Returns how many went; `max_rows` means more may remain.
    pub async fn prune_trails(&self, keep: u32, max_rows: u32) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await.at(&self.name)?;
        prune(&mut conn, self.dialect, keep, max_rows)
            .await
            .at(&self.name)
    }

    /// The recorded trail of a request.
    pub async fn trail(&self, request_id: &str) -> Result<Option<Trail>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT caller_kind, task, created_at, failure_reason, candidates, steps FROM requests WHERE id = $1",
        )
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await.at(&self.name)?
        else {
            return Ok(None);
        };
        let caller = match (
            row.try_get::<String, _>("caller_kind")
                .at(&self.name)?
                .as_str(),
            row.try_get::<Option<String>, _>("task").at(&self.name)?,
        ) {
            ("aux", Some(task)) => Caller::Aux(task),
            _ => Caller::Primary,
        };
        let failure = match row
            .try_get::<Option<String>, _>("failure_reason")
            .at(&self.name)?
        {
            None => None,
            Some(s) => Some(
                FailureReason::parse(&s)
                    .ok_or_else(|| StoreError::Corrupt(format!("failure reason {s:?}")))?,
            ),
        };
        let candidates: Vec<CandidateSummary> =
            serde_json::from_str(&row.try_get::<String, _>("candidates").at(&self.name)?)
                .map_err(|e| StoreError::Corrupt(format!("candidates: {e}")))?;
        // Every row has its steps since the migration `attempts_into_steps` (a
        // trail of 0.1 without any has `[]`).
        let steps = match row.try_get::<Option<String>, _>("steps").at(&self.name)? {
            Some(json) => steps_from_json(&json)?,
            None => Vec::new(),
        };
        Ok(Some(Trail {
            request_id: request_id.to_owned(),
            caller,
            created_at: row.try_get::<i64, _>("created_at").at(&self.name)?.max(0) as Millis,
            failure,
            candidates,
            steps,
        }))
    }
}

/// One bounded prune step, inside the caller's transaction.
pub(super) async fn prune(
    conn: &mut AnyConnection,
    dialect: Dialect,
    keep: u32,
    max_rows: u32,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(dialect.prune_sql())
        .bind(i64::from(keep))
        .bind(i64::from(max_rows))
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// A step as stored in `requests.steps` (JSON).
#[derive(serde::Serialize, serde::Deserialize)]
struct StepRow<'a> {
    #[serde(rename = "i")]
    candidate_index: u32,
    #[serde(rename = "p", borrow)]
    provider: std::borrow::Cow<'a, str>,
    #[serde(rename = "m", borrow)]
    model: std::borrow::Cow<'a, str>,
    #[serde(rename = "k", borrow, default, skip_serializing_if = "Option::is_none")]
    credential_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "c")]
    error_class: &'a str,
    #[serde(rename = "s")]
    http_status: u16,
    #[serde(rename = "a")]
    action: &'a str,
    #[serde(rename = "r", borrow)]
    reason: std::borrow::Cow<'a, str>,
    #[serde(rename = "d")]
    duration_ms: u64,
}

pub(super) fn steps_json(steps: &[Step]) -> String {
    let rows: Vec<StepRow<'_>> = steps
        .iter()
        .map(|s| StepRow {
            candidate_index: s.candidate_index,
            provider: (&*s.provider).into(),
            model: (&*s.model).into(),
            credential_id: s.credential_id.as_deref().map(Into::into),
            error_class: s.error_class.as_str(),
            http_status: s.http_status,
            action: s.action.as_str(),
            reason: s.reason.as_str().into(),
            duration_ms: s.duration_ms,
        })
        .collect();
    // Plain strings and numbers: serialisation cannot fail.
    serde_json::to_string(&rows).unwrap_or_default()
}

pub(super) fn steps_from_json(text: &str) -> Result<Vec<Step>, StoreError> {
    let rows: Vec<StepRow<'_>> =
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("steps: {e}")))?;
    rows.into_iter()
        .map(|r| {
            Ok(Step {
                candidate_index: r.candidate_index,
                provider: r.provider.as_ref().into(),
                model: r.model.as_ref().into(),
                credential_id: r.credential_id.map(|c| c.as_ref().into()),
                error_class: ErrorClass::parse(r.error_class).ok_or_else(|| {
                    StoreError::Corrupt(format!("error class {:?}", r.error_class))
                })?,
                http_status: r.http_status,
                action: Action::parse(r.action)
                    .ok_or_else(|| StoreError::Corrupt(format!("action {:?}", r.action)))?,
                reason: r.reason.into_owned(),
                duration_ms: r.duration_ms,
            })
        })
        .collect()
}

/// Test helpers: large tables in one statement, and counts.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Fills `requests` with `n` trails of a typical size in one statement, for tests
    /// of large retentions (a million rows in seconds, not minutes).
    pub(crate) async fn prefill(store: &Store, n: u64) {
        let sample = crate::store::tests::trail("sample", 0);
        let sql = match store.dialect {
            Dialect::Sqlite => {
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $1)
                 INSERT INTO requests
                     (id, caller_kind, task, created_at, outcome, failure_reason, candidates, steps)
                 SELECT printf('00000000-0000-7000-8000-%012d', x), 'aux', 'compression', x,
                        'failed', 'all_candidates_failed', $2, $3
                 FROM n"
            }
            Dialect::Postgres => {
                "INSERT INTO requests
                     (id, caller_kind, task, created_at, outcome, failure_reason, candidates, steps)
                 SELECT '00000000-0000-7000-8000-' || lpad(x::text, 12, '0'), 'aux', 'compression',
                        x, 'failed', 'all_candidates_failed', $2, $3
                 FROM generate_series(1, $1) AS x"
            }
        };
        sqlx::query(sql)
            .bind(n as i64)
            .bind(serde_json::to_string(&sample.candidates).unwrap())
            .bind(steps_json(&sample.steps))
            .execute(&store.pool)
            .await
            .unwrap();
    }

    /// How many of `ids` have a row, for tests that check no trail went missing.
    pub(crate) async fn count_present(store: &Store, ids: &[String]) -> usize {
        let mut found = 0;
        for chunk in ids.chunks(500) {
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT count(*) FROM requests WHERE id IN ({})",
                list.join(", ")
            );
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.clone());
            }
            found += q.fetch_one(&store.pool).await.unwrap() as usize;
        }
        found
    }

    /// Runs `sql` on the store: faults injected by tests (a trigger that aborts
    /// writes, then its removal).
    pub(crate) async fn execute(store: &Store, sql: &'static str) {
        sqlx::query(sql).execute(&store.pool).await.unwrap();
    }

    /// Rows in `requests`.
    pub(crate) async fn count_all(store: &Store) -> u64 {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM requests")
            .fetch_one(&store.pool)
            .await
            .unwrap() as u64
    }

    /// The ids in `requests`, in the order they were written.
    pub(crate) async fn ids_in_order(store: &Store) -> Vec<String> {
        let sql = format!(
            "SELECT id FROM requests ORDER BY {}",
            store.dialect.trail_order()
        );
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
            .fetch_all(&store.pool)
            .await
            .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::testing::count_all as count;
    use super::testing::prefill;
    use super::*;
    use crate::store::tests::{key, trail};

    #[tokio::test]
    async fn prune_searches_by_rowid_and_never_scans_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
        let explain = sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {}",
            Dialect::Sqlite.prune_sql()
        ));
        let rows = sqlx::query(explain)
            .bind(1_i64)
            .bind(1_i64)
            .fetch_all(&store.pool)
            .await
            .unwrap();
        let details: Vec<String> = rows.iter().map(|r| r.get::<String, _>("detail")).collect();
        assert!(
            details
                .iter()
                .any(|d| d.contains("USING INTEGER PRIMARY KEY")),
            "{details:?}"
        );
        assert!(
            !details.iter().any(|d| d.starts_with("SCAN")),
            "{details:?}"
        );
    }

    crate::store::tests::both_backends! {
        async fn prune_keeps_exactly_the_newest_rows_in_bounded_steps(db) {
            let store = Store::open_at(&db, key()).await.unwrap();
            let trails: Vec<_> = (0..5_000)
                .map(|i| Arc::new(trail(&format!("r{i:05}"), i)))
                .collect();
            store.write_batch(&[], &trails).await.unwrap();
            // 4,000 rows beyond the retention go 1,500 at a time, oldest first.
            assert_eq!(store.prune_trails(1_000, 1_500).await.unwrap(), 1_500);
            assert!(store.trail("r01499").await.unwrap().is_none());
            assert!(store.trail("r01500").await.unwrap().is_some());
            assert_eq!(store.prune_trails(1_000, 1_500).await.unwrap(), 1_500);
            assert_eq!(store.prune_trails(1_000, 1_500).await.unwrap(), 1_000);
            assert_eq!(store.prune_trails(1_000, 1_500).await.unwrap(), 0);
            assert_eq!(count(&store).await as i64, 1_000);
            assert!(store.trail("r03999").await.unwrap().is_none());
            assert!(store.trail("r04000").await.unwrap().is_some());
            assert!(store.trail("r04999").await.unwrap().is_some());
            // Later writes prune in their own transaction: still exactly the newest 1,000.
            let more: Vec<_> = (5_000..5_300)
                .map(|i| Arc::new(trail(&format!("r{i:05}"), i)))
                .collect();
            let prune = crate::store::Prune {
                keep: 1_000,
                max_rows: 2_048,
            };
            assert_eq!(
                store
                    .write_and_prune(&[], &more, Some(prune))
                    .await
                    .unwrap(),
                300
            );
            assert_eq!(count(&store).await as i64, 1_000);
            assert!(store.trail("r04299").await.unwrap().is_none());
            assert!(store.trail("r04300").await.unwrap().is_some());
        }

        async fn prefilled_rows_prune_in_bounded_steps(db) {
            let store = Store::open_at(&db, key()).await.unwrap();
            prefill(&store, 10_000).await;
            assert_eq!(count(&store).await as i64, 10_000);
            assert_eq!(store.prune_trails(9_000, 600).await.unwrap(), 600);
            assert_eq!(store.prune_trails(9_000, 600).await.unwrap(), 400);
            assert_eq!(count(&store).await as i64, 9_000);
            let first = "00000000-0000-7000-8000-000000001001";
            assert!(store.trail(first).await.unwrap().is_some());
        }
    }
}
