//! Choosing a row's examples: `fixed` (one seeded draw for every row), `random` (a seeded
//! draw per row, from the row's id) or `similar` (BM25 over lower-cased words, through an
//! inverted index so a row costs what its words' postings cost, not the pool's size; or the
//! cosine of embeddings, over the whole pool). A row
//! never gets an example with its id or its text; `balance` puts at least one example of each
//! label of the first `one_of` field in, where the pool has one.

use std::collections::HashMap;

use batchlabel_spec::examples::{ExampleSelect, ExampleSimilarity, Examples};

/// BM25's term-frequency saturation and length normalisation (the usual values).
const K1: f32 = 1.2;
const B: f32 = 0.75;

/// Lower-cased words of two or more letters or digits.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|character: char| !character.is_alphanumeric())
        .filter(|word| word.chars().count() > 1)
        .map(str::to_lowercase)
        .collect()
}

/// A text compared for leakage: lower-cased, whitespace collapsed.
pub(crate) fn normalized(text: &str) -> String {
    text.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a selector knows of one pool example.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) id: Option<String>,
    pub(crate) normalized: String,
    /// Its label for balancing (the first `one_of` field's), as an index.
    pub(crate) class: Option<usize>,
    /// Its words (for `similar`).
    pub(crate) words: Vec<String>,
}

struct Index {
    postings: HashMap<String, Vec<(u32, u16)>>,
    lengths: Vec<f32>,
    average: f32,
}

impl Index {
    fn new(candidates: &[Candidate]) -> Self {
        let mut postings: HashMap<String, Vec<(u32, u16)>> = HashMap::new();
        for (document, candidate) in candidates.iter().enumerate() {
            let mut counts: HashMap<&str, u16> = HashMap::new();
            for word in &candidate.words {
                let count = counts.entry(word).or_default();
                *count = count.saturating_add(1);
            }
            for (word, count) in counts {
                postings
                    .entry(word.to_string())
                    .or_default()
                    .push((document as u32, count));
            }
        }
        let lengths: Vec<f32> = candidates.iter().map(|c| c.words.len() as f32).collect();
        let average = (lengths.iter().sum::<f32>() / lengths.len().max(1) as f32).max(1.0);
        Self {
            postings,
            lengths,
            average,
        }
    }

    /// Scores of the documents sharing a word with `query`.
    fn scores(&self, query: &[String]) -> HashMap<u32, f32> {
        let documents = self.lengths.len() as f32;
        let mut scores: HashMap<u32, f32> = HashMap::new();
        let mut seen: Vec<&str> = Vec::new();
        for word in query {
            if seen.contains(&word.as_str()) {
                continue;
            }
            seen.push(word);
            let Some(postings) = self.postings.get(word) else {
                continue;
            };
            let frequency = postings.len() as f32;
            let idf = (1.0 + (documents - frequency + 0.5) / (frequency + 0.5)).ln();
            for &(document, count) in postings {
                let count = f32::from(count);
                let length = self.lengths[document as usize];
                let weight =
                    count * (K1 + 1.0) / (count + K1 * (1.0 - B + B * length / self.average));
                *scores.entry(document).or_default() += idf * weight;
            }
        }
        scores
    }
}

/// Picks each row's examples from a pool.
pub(crate) struct Selector {
    select: ExampleSelect,
    k: usize,
    seed: u64,
    balance: bool,
    classes: usize,
    candidates: Vec<Candidate>,
    /// What `fixed` draws from and `similar` falls back on after its matches: the start of
    /// the seeded order, and the first two of each class in it (so balancing always finds
    /// one, and a leaking example has a stand-in).
    fallback: Vec<usize>,
    /// The examples of each class.
    by_class: Vec<Vec<usize>>,
    similarity: Option<Similarity>,
}

/// What `similar` ranks the pool by.
enum Similarity {
    Words(Index),
    /// Each pool example's unit embedding.
    Embeddings(Vec<Vec<f32>>),
}

/// The `count` pool examples nearest `query` (dot product of unit vectors), best first.
fn nearest(vectors: &[Vec<f32>], query: &[f32], count: usize) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> = vectors
        .iter()
        .enumerate()
        .map(|(index, vector)| {
            let dot: f32 = vector.iter().zip(query).map(|(a, b)| a * b).sum();
            (dot, index)
        })
        .collect();
    let best = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if scored.len() > count && count > 0 {
        scored.select_nth_unstable_by(count - 1, best);
        scored.truncate(count);
    }
    scored.sort_unstable_by(best);
    scored.into_iter().map(|(_, index)| index).collect()
}

/// A seeded order of `0..count`.
fn shuffled(count: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<(u64, usize)> = (0..count)
        .map(|index| {
            let mut bytes = seed.to_le_bytes().to_vec();
            bytes.extend_from_slice(&(index as u64).to_le_bytes());
            (xxhash_rust::xxh3::xxh3_64(&bytes), index)
        })
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, index)| index).collect()
}

impl Selector {
    /// A selector over `candidates`; `vectors` are their embeddings when `similar` compares
    /// embeddings.
    pub(crate) fn new(
        examples: &Examples,
        candidates: Vec<Candidate>,
        classes: usize,
        vectors: Option<Vec<Vec<f32>>>,
    ) -> Self {
        let similarity = (examples.select == ExampleSelect::Similar).then(|| {
            match (examples.similarity, vectors) {
                (ExampleSimilarity::Embeddings, Some(vectors)) => Similarity::Embeddings(vectors),
                _ => Similarity::Words(Index::new(&candidates)),
            }
        });
        let order = shuffled(candidates.len(), examples.seed);
        let k = examples.k.min(candidates.len());
        let mut fallback: Vec<usize> = order.iter().take(k * 2 + 8).copied().collect();
        let mut by_class = vec![Vec::new(); classes];
        for (index, candidate) in candidates.iter().enumerate() {
            if let Some(class) = candidate.class.filter(|class| *class < classes) {
                by_class[class].push(index);
            }
        }
        for class in 0..classes {
            let of_class = order
                .iter()
                .filter(|index| candidates[**index].class == Some(class))
                .take(2);
            fallback.extend(of_class);
        }
        Self {
            select: examples.select,
            k,
            seed: examples.seed,
            balance: examples.balance,
            classes,
            fallback,
            by_class,
            candidates,
            similarity,
        }
    }

    fn leaks(&self, candidate: usize, row_id: &str, row_text: &str) -> bool {
        let candidate = &self.candidates[candidate];
        candidate.id.as_deref() == Some(row_id) || candidate.normalized == row_text
    }

    /// The examples of the row with `row_id` whose user turn is `row_text` (embedded as
    /// `vector`, when `similar` compares embeddings), in the order they are shown.
    pub(crate) fn pick(&self, row_id: &str, row_text: &str, vector: Option<&[f32]>) -> Vec<usize> {
        let text = normalized(row_text);
        // Every list is bounded by k, the classes and the row's matches, never the pool: a
        // row costs the same against a pool of 100 or of 200,000.
        let ranked: Vec<usize> = match self.select {
            ExampleSelect::Fixed => self.fallback.clone(),
            ExampleSelect::Random => self.drawn_for(row_id),
            ExampleSelect::Similar => self.by_similarity(row_text, vector),
        };
        let allowed = ranked
            .into_iter()
            .filter(|candidate| !self.leaks(*candidate, row_id, &text));
        let mut chosen = self.take(allowed);
        if self.select == ExampleSelect::Similar {
            // The most similar last, next to the row.
            chosen.reverse();
        }
        chosen
    }

    /// A reproducible draw for the row `row_id`: distinct examples from hashes of the seed,
    /// the id and a counter, then one of each class (for balancing).
    fn drawn_for(&self, row_id: &str) -> Vec<usize> {
        let count = self.candidates.len() as u64;
        if count == 0 {
            return Vec::new();
        }
        let hash = |salt: u64| {
            let mut bytes = self.seed.to_le_bytes().to_vec();
            bytes.extend_from_slice(&salt.to_le_bytes());
            bytes.extend_from_slice(row_id.as_bytes());
            xxhash_rust::xxh3::xxh3_64(&bytes)
        };
        let mut drawn: Vec<usize> = Vec::with_capacity(self.k * 3 + 8 + self.classes);
        for salt in 0..(self.k as u64 * 3 + 8) {
            let index = (hash(salt) % count) as usize;
            if !drawn.contains(&index) {
                drawn.push(index);
            }
        }
        for (class, members) in self.by_class.iter().enumerate() {
            if !members.is_empty() {
                let pick = hash(u64::MAX - class as u64) % members.len() as u64;
                drawn.push(members[pick as usize]);
            }
        }
        drawn
    }

    /// The pool by BM25 score against `text` (or the nearest embeddings to `vector`), best
    /// first; unmatched examples after, in the seeded order.
    fn by_similarity(&self, text: &str, vector: Option<&[f32]>) -> Vec<usize> {
        let index = match (&self.similarity, vector) {
            (Some(Similarity::Words(index)), _) => index,
            (Some(Similarity::Embeddings(vectors)), Some(query)) => {
                // Enough for k after leaks are skipped; balancing fills from the fallback.
                let mut ranked = nearest(vectors, query, self.k * 2 + 8);
                ranked.extend(&self.fallback);
                return ranked;
            }
            _ => return self.fallback.clone(),
        };
        let scores = index.scores(&words(text));
        let mut matched: Vec<(u32, f32)> = scores.into_iter().collect();
        matched.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut ranked: Vec<usize> = matched
            .iter()
            .map(|(document, _)| *document as usize)
            .collect();
        // Rows sharing no word with enough examples (and balancing) fill from the fallback;
        // `take` skips repeats.
        ranked.extend(&self.fallback);
        ranked
    }

    /// The first `k` of `ranked` (in rank order), with one of each class first when balancing.
    fn take(&self, ranked: impl Iterator<Item = usize>) -> Vec<usize> {
        let mut chosen = Vec::with_capacity(self.k);
        let balancing = self.balance && self.classes > 0 && self.k >= self.classes;
        if !balancing {
            for candidate in ranked {
                if !chosen.contains(&candidate) {
                    chosen.push(candidate);
                }
                if chosen.len() == self.k {
                    break;
                }
            }
            return chosen;
        }
        let ranked: Vec<usize> = ranked.collect();
        let mut covered = vec![false; self.classes];
        // The best of each class first (kept in rank order), then the rest by rank.
        for &candidate in &ranked {
            if let Some(class) = self.candidates[candidate].class
                && !covered[class]
            {
                covered[class] = true;
                chosen.push(candidate);
            }
        }
        for &candidate in &ranked {
            if chosen.len() >= self.k {
                break;
            }
            if !chosen.contains(&candidate) {
                chosen.push(candidate);
            }
        }
        let position = |candidate: &usize| ranked.iter().position(|other| other == candidate);
        chosen.sort_by_key(position);
        chosen.truncate(self.k);
        chosen
    }
}

#[cfg(test)]
#[path = "select_tests.rs"]
mod tests;
