use batchlabel_spec::examples::{ExampleSelect, Examples};

use super::{Candidate, Selector, normalized, words};

fn candidate(id: &str, text: &str, class: usize) -> Candidate {
    Candidate {
        id: Some(id.into()),
        normalized: normalized(text),
        class: Some(class),
        words: words(text),
    }
}

fn pool() -> Vec<Candidate> {
    vec![
        candidate("a", "the battery died after one day", 0),
        candidate("b", "great screen and a fast phone", 1),
        candidate("c", "delivery was on time", 2),
        candidate("d", "battery life is terrible, battery swelling", 0),
        candidate("e", "love the camera", 1),
        candidate("f", "the box had a manual", 2),
    ]
}

fn settings(select: ExampleSelect, k: usize, balance: bool) -> Examples {
    Examples {
        inline: Vec::new(),
        file: None,
        k,
        select,
        similarity: batchlabel_spec::examples::ExampleSimilarity::Words,
        seed: 3,
        balance,
    }
}

#[test]
fn similar_puts_the_closest_last_and_never_the_row_itself() {
    let selector = Selector::new(&settings(ExampleSelect::Similar, 2, false), pool(), 3, None);
    let picked = selector.pick("row-1", "my battery died, battery is bad", None);
    assert_eq!(picked, [0, 3], "most similar (d) last");
    // The same text as an example, or the same id, is never shown to the row.
    let picked = selector.pick("d", "the battery died after one day", None);
    assert!(!picked.contains(&0) && !picked.contains(&3), "{picked:?}");
    assert_eq!(picked.len(), 2);
}

#[test]
fn draws_are_reproducible_and_fixed_is_shared() {
    let fixed = Selector::new(&settings(ExampleSelect::Fixed, 3, false), pool(), 3, None);
    assert_eq!(fixed.pick("x", "one", None), fixed.pick("y", "two", None));
    let random = Selector::new(&settings(ExampleSelect::Random, 3, false), pool(), 3, None);
    let again = Selector::new(&settings(ExampleSelect::Random, 3, false), pool(), 3, None);
    assert_eq!(random.pick("x", "one", None), again.pick("x", "one", None));
    let rows: Vec<Vec<usize>> = (0..8)
        .map(|row| random.pick(&format!("r{row}"), "t", None))
        .collect();
    assert!(rows.iter().any(|picked| picked != &rows[0]), "{rows:?}");
}

#[test]
fn balance_shows_every_class_when_k_allows() {
    for select in [
        ExampleSelect::Fixed,
        ExampleSelect::Random,
        ExampleSelect::Similar,
    ] {
        let selector = Selector::new(&settings(select, 3, true), pool(), 3, None);
        for row in 0..6 {
            let picked = selector.pick(&format!("r{row}"), "battery battery battery", None);
            let mut classes: Vec<usize> = picked
                .iter()
                .map(|index| pool()[*index].class.unwrap())
                .collect();
            classes.sort_unstable();
            assert_eq!(classes, [0, 1, 2], "{select:?}: {picked:?}");
        }
    }
}

#[test]
fn similar_by_embeddings_ranks_by_cosine_and_never_leaks() {
    let mut examples = settings(ExampleSelect::Similar, 2, false);
    examples.similarity = batchlabel_spec::examples::ExampleSimilarity::Embeddings;
    // Unit vectors on a circle: example i at angle i·30°.
    let vectors: Vec<Vec<f32>> = (0..6)
        .map(|index| {
            let angle = (index as f32 * 30.0).to_radians();
            vec![angle.cos(), angle.sin()]
        })
        .collect();
    let selector = Selector::new(&examples, pool(), 3, Some(vectors));
    let near_four = [(125f32).to_radians().cos(), (125f32).to_radians().sin()];
    // 4 (120°) is nearest, then 5 (150°), then 3 (90°); the nearest is shown last. Words
    // play no part.
    assert_eq!(selector.pick("row", "battery", Some(&near_four)), [5, 4]);
    // The row that is example 4 (same id) never gets it.
    assert_eq!(selector.pick("e", "other words", Some(&near_four)), [3, 5]);
}
