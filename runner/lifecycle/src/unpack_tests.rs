//! Splitting packed results: each item its own answer and share of the tokens; a whole-pack
//! failure fails every item the same way, without the pack's partial answer.

use batchlabel_core::{FailureReason, Outcome};
use batchlabel_protocol::pack::PackField;
use batchlabel_providers::codec::{Answer, Finish, LineResult, NotRun, Usage};

use super::{ItemResult, split_result};

fn fields() -> Vec<PackField<'static>> {
    vec![PackField {
        name: "sentiment",
        labels: vec!["POSITIVE", "NEGATIVE"],
        many: false,
        codes: false,
    }]
}

fn answered(content: &str, finish: Finish, refusal: Option<&str>) -> LineResult {
    LineResult::Answered(Answer {
        content: Some(content.to_string()),
        refusal: refusal.map(str::to_string),
        finish,
        usage: Usage {
            input_tokens: 101,
            output_tokens: 10,
            cached_input_tokens: 0,
        },
        model_snapshot: Some("m".into()),
        scores: None,
    })
}

fn content(result: &ItemResult) -> Option<&str> {
    match result {
        ItemResult::Judge(LineResult::Answered(answer)) => answer.content.as_deref(),
        _ => None,
    }
}

fn tokens(result: &ItemResult) -> (u64, u64) {
    match result {
        ItemResult::Judge(LineResult::Answered(answer)) => {
            (answer.usage.input_tokens, answer.usage.output_tokens)
        }
        ItemResult::Judge(LineResult::Malformed { usage, .. }) => {
            (usage.input_tokens, usage.output_tokens)
        }
        ItemResult::Decided(Outcome::Failed {
            input_tokens,
            output_tokens,
            ..
        }) => (*input_tokens, *output_tokens),
        _ => (0, 0),
    }
}

#[test]
fn each_item_gets_its_answer_and_a_share_of_the_tokens() {
    let result = answered(
        r#"{"sentiment":{"POSITIVE":[1,3],"NEGATIVE":[2]}}"#,
        Finish::Complete,
        None,
    );
    let items = split_result(result, 4, &fields());
    assert_eq!(content(&items[0]), Some(r#"{"sentiment":"POSITIVE"}"#));
    assert_eq!(content(&items[1]), Some(r#"{"sentiment":"NEGATIVE"}"#));
    assert_eq!(content(&items[2]), Some(r#"{"sentiment":"POSITIVE"}"#));
    match &items[3] {
        ItemResult::Decided(Outcome::Failed { reason, detail, .. }) => {
            assert_eq!(*reason, FailureReason::Missing);
            assert!(detail.contains("item 4"), "{detail}");
        }
        _ => panic!("item 4 should be missing"),
    }
    let (input, output): (Vec<u64>, Vec<u64>) = items.iter().map(tokens).unzip();
    assert_eq!(input.iter().sum::<u64>(), 101);
    assert_eq!(output.iter().sum::<u64>(), 10);
    assert_eq!(input, vec![26, 25, 25, 25]);
}

#[test]
fn a_refused_or_cut_off_pack_fails_every_item_without_its_partial_answer() {
    for (finish, refusal) in [
        (Finish::Truncated, None),
        (Finish::Complete, Some("no")),
        (Finish::Filtered, None),
    ] {
        let items = split_result(answered("{\"sentiment\": {", finish, refusal), 3, &fields());
        assert_eq!(items.len(), 3);
        for item in &items {
            match item {
                ItemResult::Judge(LineResult::Answered(answer)) => {
                    assert_eq!(answer.content, None);
                    assert_eq!(answer.finish, finish);
                    assert_eq!(answer.refusal.as_deref(), refusal);
                }
                _ => panic!("expected the pack's own ending"),
            }
        }
    }
}

#[test]
fn an_unreadable_or_unrun_pack_fails_every_item() {
    let items = split_result(answered("not json", Finish::Complete, None), 2, &fields());
    assert!(
        items
            .iter()
            .all(|item| matches!(item, ItemResult::Judge(LineResult::Malformed { .. })))
    );
    let not_run = LineResult::NotRun {
        reason: NotRun::Expired,
        detail: "expired".into(),
    };
    let items = split_result(not_run, 2, &fields());
    assert!(items.iter().all(|item| matches!(
        item,
        ItemResult::Judge(LineResult::NotRun {
            reason: NotRun::Expired,
            ..
        })
    )));
}

#[test]
fn a_rejected_pack_asks_every_item_again_alone() {
    let rejected = LineResult::Rejected {
        status: 400,
        message: "context_length_exceeded".into(),
    };
    let items = split_result(rejected, 2, &fields());
    for item in &items {
        match item {
            ItemResult::Decided(Outcome::Failed {
                reason, retryable, ..
            }) => {
                assert_eq!(*reason, FailureReason::HttpError);
                assert!(*retryable, "a 400 for a pack is worth asking alone");
            }
            _ => panic!("expected a retryable failure"),
        }
    }
}
