//! Re-validation instead of re-asking: a run whose validators differ from earlier runs' judges
//! the answers those runs got — what the model said, not what their validators made of it —
//! and reuses every answer that passes now, including answers they had rejected. Only what
//! fails now is asked again.

use std::collections::{HashMap, HashSet};

use batchlabel_core::FailureReason;
use rusqlite::params;

use crate::{CompileRegistry, Ledger, LedgerError, ResultState, now};

/// What a job's checks say of an earlier answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It passes unchanged: reuse the earlier labels.
    Keep,
    /// It passes as these labels (JSON): reuse it with them.
    Relabel(String),
    /// It fails: ask again.
    Drop,
}

/// An earlier answer that passes now with other labels than the earlier run recorded.
#[derive(Debug, Clone)]
pub struct Relabeled {
    /// The run that got the answer.
    pub run_id: i64,
    /// Its request there.
    pub custom_id: String,
    /// The labels this run gives it (JSON).
    pub output: String,
}

/// The requests a run may take from earlier runs instead of asking again.
#[derive(Debug, Default)]
pub struct Reusable {
    /// Request fingerprints whose earlier labels hold unchanged.
    pub kept: HashSet<u128>,
    /// Request fingerprints reused with new labels.
    pub relabeled: HashMap<u128, Relabeled>,
}

impl Reusable {
    /// Every reusable fingerprint.
    pub fn fingerprints(&self) -> HashSet<u128> {
        let mut all = self.kept.clone();
        all.extend(self.relabeled.keys().copied());
        all
    }
}

/// One earlier answer to judge.
#[derive(Debug)]
pub struct EarlierAnswer<'a> {
    /// Its request in the earlier run.
    pub custom_id: &'a str,
    /// What the model answered.
    pub answer: &'a str,
    /// The labels the earlier run recorded (`None` when it rejected the answer).
    pub labels: Option<&'a str>,
}

/// Failures whose answer other validators may accept: the model answered, the checks said no.
const JUDGED_FAILURES: [FailureReason; 4] = [
    FailureReason::InvalidJson,
    FailureReason::SchemaViolation,
    FailureReason::PluginRejected,
    FailureReason::PluginError,
];

impl Ledger {
    /// Judge the answers earlier runs got themselves (not reused ones): those they rejected,
    /// those they accepted after their validators rewrote them, and with `labeled` every one
    /// they accepted. A request asked in several runs is judged once, an accepted answer first.
    pub fn judge_earlier_answers(
        &self,
        labeled: bool,
        mut judge: impl FnMut(EarlierAnswer<'_>) -> Verdict,
    ) -> Result<Reusable, LedgerError> {
        self.connection
            .execute_batch(
                "CREATE INDEX IF NOT EXISTS requests_by_custom_id ON requests(run_id, custom_id)",
            )
            .map_err(self.error())?;
        let failures: Vec<String> = JUDGED_FAILURES
            .iter()
            .map(|reason| format!("'{}'", reason.as_str()))
            .collect();
        // A scored answer's raw_output is the calibration's starting point, not a rejected
        // rewrite: its labels are what it is judged on.
        let sql = format!(
            "SELECT q.fingerprint, q.custom_id, r.run_id, r.state = ?1,
                    CASE WHEN r.scores IS NULL THEN coalesce(r.raw_output, r.output) ELSE r.output END,
                    r.output
             FROM requests q JOIN results r ON r.run_id = q.run_id AND r.custom_id = q.custom_id
             WHERE r.cached_from_run IS NULL AND r.output IS NOT NULL
               AND ((r.state = ?1 AND (?2 OR (r.raw_output IS NOT NULL AND r.scores IS NULL)))
                    OR (r.state = ?3 AND r.reason IN ({})))
             ORDER BY r.state = ?1 DESC",
            failures.join(", ")
        );
        let mut statement = self.connection.prepare(&sql).map_err(self.error())?;
        let mut rows = statement
            .query(params![
                ResultState::Labeled.as_str(),
                labeled,
                ResultState::Failed.as_str()
            ])
            .map_err(self.error())?;
        let mut judged: HashSet<u128> = HashSet::new();
        let mut reusable = Reusable::default();
        while let Some(row) = rows.next().map_err(self.error())? {
            let bytes: Vec<u8> = row.get(0).map_err(self.error())?;
            let Ok(array) = <[u8; 16]>::try_from(bytes.as_slice()) else {
                continue;
            };
            let fingerprint = u128::from_be_bytes(array);
            if !judged.insert(fingerprint) {
                continue;
            }
            let custom_id: String = row.get(1).map_err(self.error())?;
            let run_id: i64 = row.get(2).map_err(self.error())?;
            let was_labeled: bool = row.get(3).map_err(self.error())?;
            let answer: String = row.get(4).map_err(self.error())?;
            let output: String = row.get(5).map_err(self.error())?;
            let earlier = EarlierAnswer {
                custom_id: &custom_id,
                answer: &answer,
                labels: was_labeled.then_some(output.as_str()),
            };
            match judge(earlier) {
                Verdict::Keep if was_labeled => {
                    reusable.kept.insert(fingerprint);
                }
                Verdict::Keep => {
                    let relabeled = Relabeled {
                        run_id,
                        custom_id,
                        output: answer,
                    };
                    reusable.relabeled.insert(fingerprint, relabeled);
                }
                Verdict::Relabel(output) => {
                    let relabeled = Relabeled {
                        run_id,
                        custom_id,
                        output,
                    };
                    reusable.relabeled.insert(fingerprint, relabeled);
                }
                Verdict::Drop => {}
            }
        }
        Ok(reusable)
    }
}

impl CompileRegistry<'_> {
    /// Record, for the requests kept out of the shards, the earlier answers that pass this
    /// run's checks with new labels. Before [`CompileRegistry::finish`], which copies the
    /// rest unchanged.
    pub fn reuse_relabeled(&self, relabeled: &HashMap<u128, Relabeled>) -> Result<(), LedgerError> {
        if relabeled.is_empty() {
            return Ok(());
        }
        let execute = |sql: &str| self.transaction.execute_batch(sql);
        execute(
            "CREATE TEMP TABLE IF NOT EXISTS relabeled(fingerprint BLOB PRIMARY KEY,
                 run_id INTEGER NOT NULL, custom_id TEXT NOT NULL, output TEXT NOT NULL);
             DELETE FROM temp.relabeled;
             CREATE INDEX IF NOT EXISTS requests_by_fingerprint ON requests(fingerprint);",
        )
        .map_err(&self.error)?;
        {
            let mut insert = self
                .transaction
                .prepare("INSERT INTO temp.relabeled VALUES (?1, ?2, ?3, ?4)")
                .map_err(&self.error)?;
            for (fingerprint, answer) in relabeled {
                let key = fingerprint.to_be_bytes().to_vec();
                insert
                    .execute(params![key, answer.run_id, answer.custom_id, answer.output])
                    .map_err(&self.error)?;
            }
        }
        self.transaction
            .execute(
                "INSERT OR IGNORE INTO results(run_id, custom_id, state, output, attempt, shard_id,
                     model_snapshot, finished_at, cached_from_run, packed_in)
                 SELECT ?1, new.custom_id, ?3, fresh.output, old.attempt, old.shard_id,
                        old.model_snapshot, ?2, old.run_id, old.packed_in
                 FROM requests new
                 JOIN temp.relabeled fresh ON fresh.fingerprint = new.fingerprint
                 JOIN results old ON old.run_id = fresh.run_id AND old.custom_id = fresh.custom_id
                 WHERE new.run_id = ?1 AND new.shard = 0",
                params![self.run_id, now(), ResultState::Labeled.as_str()],
            )
            .map_err(&self.error)?;
        execute("DROP TABLE temp.relabeled").map_err(&self.error)?;
        Ok(())
    }
}
