//! Sending planned shards in waves: each turn sends what the provider's queue has room for
//! (`admission.rs`), under the budget, and what the provider makes of it — a create or a
//! batch refused for a full queue, a batch that ended — moves the cap.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Instant;

use batchlabel_core::ShardState;
use batchlabel_ledger::ShardRecord;
use futures_util::StreamExt;

use crate::LifecycleError;
use crate::admission::Load;
use crate::driver::Runner;
use crate::submit::Sent;

impl Runner<'_> {
    /// Send the planned shards the queue has room for, after reserving them under the budget;
    /// a budget refusal stops the run after what was admitted is sent. Whether anything was
    /// sent.
    pub(crate) async fn submit(&mut self, planned: &[ShardRecord]) -> Result<bool, LifecycleError> {
        if planned.is_empty() {
            return Ok(false);
        }
        let shards = self.ledger.shards(self.run.id)?;
        let wave = self.admission.select(&shards, Instant::now());
        if wave.is_empty() {
            return Ok(false);
        }
        if wave.len() < planned.len() {
            self.observer.event(&format!(
                "{} shard(s) wait for room in the provider's queue ({})",
                planned.len() - wave.len(),
                self.describe_queue(&shards)
            ));
        }
        let in_wave: HashSet<i64> = wave.iter().map(|shard| shard.id).collect();
        let (admitted, refused) = match &self.budget {
            Some(budget) => {
                // The budget sees every shard but reserves only this wave's.
                let candidates = shards
                    .into_iter()
                    .filter(|shard| {
                        shard.state != ShardState::Planned || in_wave.contains(&shard.id)
                    })
                    .collect();
                budget.reserve_planned(&self.ledger, candidates)?
            }
            None => (wave, None),
        };
        let mut sent = false;
        if !admitted.is_empty() {
            let stage = Instant::now();
            let attempt = admitted
                .iter()
                .map(|shard| shard.attempt)
                .max()
                .unwrap_or(1);
            self.observer.event(&format!(
                "submitting {} shard(s) of attempt {attempt}",
                admitted.len()
            ));
            let (provider, ledger, remote) = (self.provider, &self.ledger, &self.remote);
            let mut submissions =
                futures_util::stream::iter(admitted.into_iter().map(|shard| async move {
                    let load = Load::of(&shard);
                    (
                        load,
                        crate::submit_shard(provider, ledger, remote, shard).await,
                    )
                }))
                .buffer_unordered(self.settings.concurrency.max(1));
            let mut queue_full: Option<Load> = None;
            while let Some((load, outcome)) = submissions.next().await {
                match outcome? {
                    Sent::Created => sent = true,
                    Sent::Later => {}
                    Sent::QueueFull => {
                        queue_full = Some(queue_full.map_or(load, |other| other.max(load)));
                    }
                }
            }
            drop(submissions);
            self.ledger.checkpoint();
            self.timings.submit_seconds += stage.elapsed().as_secs_f64();
            if let Some(load) = queue_full {
                self.queue_refused(load)?;
            }
        }
        match refused {
            Some(refused) => Err(refused),
            None => Ok(sent),
        }
    }

    /// After a poll: a batch refused for a full queue (its shard planned again, `before` it
    /// was submitted) lowers the cap; one that ended well lets a lowered cap grow back.
    pub(crate) fn settled(&mut self, before: &[ShardRecord]) -> Result<(), LifecycleError> {
        let shards = self.ledger.shards(self.run.id)?;
        let states: HashMap<i64, ShardState> =
            shards.iter().map(|shard| (shard.id, shard.state)).collect();
        let mut refused: Option<Load> = None;
        for shard in before {
            match states.get(&shard.id) {
                Some(ShardState::Planned) => {
                    let load = Load::of(shard);
                    refused = Some(refused.map_or(load, |other| other.max(load)));
                }
                Some(ShardState::Downloaded) => self.admission.ended_well(Load::of(shard)),
                _ => {}
            }
        }
        match refused {
            Some(load) => self.queue_refused(load),
            None => Ok(()),
        }
    }

    /// The provider refused a shard of `load` for a full queue: lower the cap to what is in
    /// flight now.
    fn queue_refused(&mut self, load: Load) -> Result<(), LifecycleError> {
        let shards = self.ledger.shards(self.run.id)?;
        self.admission
            .refused(Load::in_flight(&shards), load, Instant::now());
        self.observer.event(&format!(
            "the provider's queue is full: sending waits for batches to end ({})",
            self.describe_queue(&shards)
        ));
        Ok(())
    }

    /// `N tokens in flight of a cap of M`.
    fn describe_queue(&self, shards: &[ShardRecord]) -> String {
        let load = Load::in_flight(shards);
        let cap = self.admission.cap();
        let mut text = format!(
            "{} token(s), {} request(s) in flight",
            load.tokens, load.requests
        );
        if let Some(tokens) = cap.tokens {
            let _ = write!(text, "; cap {tokens} tokens");
        }
        if let Some(requests) = cap.requests {
            let _ = write!(text, "; cap {requests} requests");
        }
        text
    }
}
