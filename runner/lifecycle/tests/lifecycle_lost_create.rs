//! A create whose answer was lost and that looking cannot resolve: the run stops rather than
//! create the shard's batch a second time. The FakeProvider, wrapped so that only the looks
//! for a lost create meet trouble (the run's opening look for a lost ledger's batches does
//! not): the listing fails, or it shows several batches that could each be the one made.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use batchlabel_lifecycle::LifecycleError;
use batchlabel_providers::{
    BatchProvider, BoxFuture, Codec, Found, LineResult, LostCreate, ProviderError, RemoteBatch,
    ResultFiles, StagedInput, Tags, Tuning,
};
use batchlabel_test_support::{Call, FakeProvider, Fault};

mod common;

/// What looking for a lost create meets.
#[derive(Clone, Copy)]
enum Trouble {
    /// The listing it reads fails (a 500 from `find_batches`).
    ListingFails,
    /// A twin of the batch, same input and tags, was made meanwhile (as by another machine
    /// sending the same shard).
    Twin,
}

/// The fake, with trouble for the first look at a lost create.
struct Troubled {
    fake: FakeProvider,
    trouble: Trouble,
    met: AtomicBool,
}

impl Troubled {
    fn new(fake: FakeProvider, trouble: Trouble) -> Self {
        Self {
            fake,
            trouble,
            met: AtomicBool::new(false),
        }
    }

    async fn look(&self, lost: &LostCreate<'_>) -> Result<Found, ProviderError> {
        if self.met.swap(true, Ordering::Relaxed) {
            return self.fake.find_created(lost).await;
        }
        match self.trouble {
            Trouble::ListingFails => {
                self.fake.inject(Call::FindBatches, Fault::Api(500));
                self.fake.find_created(lost).await
            }
            Trouble::Twin => {
                self.fake.create(lost.input, lost.tags).await?;
                let alike: Vec<RemoteBatch> = self
                    .fake
                    .find_batches(lost.tags, lost.since)
                    .await?
                    .into_iter()
                    .filter(|batch| batch.input_id.as_deref() == Some(lost.input.id.as_str()))
                    .collect();
                Ok(Found::Several(alike))
            }
        }
    }
}

impl BatchProvider for Troubled {
    fn describe(&self) -> String {
        self.fake.describe()
    }

    fn codec(&self) -> Arc<dyn Codec> {
        self.fake.codec()
    }

    fn tuning(&self) -> Tuning {
        self.fake.tuning()
    }

    fn stage_input<'a>(
        &'a self,
        path: &'a Path,
        name: &'a str,
    ) -> BoxFuture<'a, Result<StagedInput, ProviderError>> {
        self.fake.stage_input(path, name)
    }

    fn find_staged_input<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<StagedInput>, ProviderError>> {
        self.fake.find_staged_input(name)
    }

    fn create<'a>(
        &'a self,
        input: &'a StagedInput,
        tags: &'a Tags,
    ) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        self.fake.create(input, tags)
    }

    fn find_batches<'a>(
        &'a self,
        tags: &'a Tags,
        since: i64,
    ) -> BoxFuture<'a, Result<Vec<RemoteBatch>, ProviderError>> {
        self.fake.find_batches(tags, since)
    }

    fn find_created<'a>(
        &'a self,
        lost: &'a LostCreate<'a>,
    ) -> BoxFuture<'a, Result<Found, ProviderError>> {
        Box::pin(self.look(lost))
    }

    fn poll<'a>(&'a self, batch_id: &'a str) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        self.fake.poll(batch_id)
    }

    fn cancel<'a>(
        &'a self,
        batch_id: &'a str,
    ) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        self.fake.cancel(batch_id)
    }

    fn fetch_results<'a>(
        &'a self,
        batch: &'a RemoteBatch,
        directory: &'a Path,
    ) -> BoxFuture<'a, Result<ResultFiles, ProviderError>> {
        self.fake.fetch_results(batch, directory)
    }

    fn delete_input<'a>(&'a self, input_id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.fake.delete_input(input_id)
    }

    fn delete_results<'a>(
        &'a self,
        handles: &'a [String],
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.fake.delete_results(handles)
    }

    fn answer_now<'a>(&'a self, line: &'a str) -> BoxFuture<'a, Result<LineResult, ProviderError>> {
        self.fake.answer_now(line)
    }
}

#[tokio::test]
async fn a_lost_create_that_cannot_be_looked_up_stops_the_run_without_creating_again() {
    let job = common::job("lost-create-job", 3, 3, 3, "");
    let fake = FakeProvider::new().fault(Call::Create, Fault::AnswerLost, 1);
    let troubled = Troubled::new(fake, Trouble::ListingFails);
    let events = common::Events::default();
    let error = batchlabel_lifecycle::run(&job.job, &job.settings, &troubled, &events)
        .await
        .expect_err("the look fails");
    let LifecycleError::Provider(failure) = &error else {
        panic!("{error}");
    };
    assert!(
        matches!(failure.error, ProviderError::Api { status: 500, .. }),
        "{error}"
    );
    assert_eq!(failure.context, "shard 1 (attempt 1)");
    let fake = troubled.fake;
    assert_eq!(fake.calls().creates, 1, "not created a second time");
    assert_eq!(fake.batches().len(), 1, "the lost create made its batch");
    // Resumed with the provider well again: the lost create's batch is found and used.
    let summary = job.finish(&fake).await;
    assert_eq!(summary.counts.labeled_rows, 3, "{summary:?}");
    assert_eq!(summary.counts.failed_rows, 0, "{summary:?}");
    assert_eq!(fake.calls().creates, 1, "one batch for the one shard");
    assert_eq!(fake.batches().len(), 1);
}

#[tokio::test]
async fn several_look_alike_batches_stop_the_run_and_are_named() {
    let job = common::job("look-alike-job", 3, 3, 3, "");
    let fake = FakeProvider::new().fault(Call::Create, Fault::AnswerLost, 1);
    let troubled = Troubled::new(fake, Trouble::Twin);
    let error = batchlabel_lifecycle::run(
        &job.job,
        &job.settings,
        &troubled,
        &common::Events::default(),
    )
    .await
    .expect_err("two batches could be the one");
    let LifecycleError::UnresolvedCreate {
        shard,
        count,
        candidates,
        provider,
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!((*shard, *count), (1, 2), "{error}");
    assert_eq!(provider, "fake provider (in process)");
    let batches = troubled.fake.batches();
    assert_eq!(batches.len(), 2, "the lost create's batch and its twin");
    let message = error.to_string();
    for batch in &batches {
        assert!(candidates.contains(&batch.id), "{message}");
        assert!(message.contains(&batch.id), "{message}");
    }
    assert!(
        message.starts_with("shard 1: the answer to its batch create was lost, and 2 "),
        "{message}"
    );
    assert!(message.contains(" requests, validating)"), "{message}");
    assert!(message.contains("nothing more was sent"), "{message}");
    assert!(message.contains("--new-run"), "{message}");
    // The run's own create plus the twin: nothing more.
    assert_eq!(troubled.fake.calls().creates, 2);
}
