//! A batch's tags in its display name, Gemini batches' only free-text field:
//! `batchlabel;job=<job>;run=<run>;…`, with `%`, `;` and `=` percent-escaped, so the name reads
//! back into exactly the tags it was made from.

use crate::Tags;

const PREFIX: &str = "batchlabel";

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '%' => out.push_str("%25"),
            ';' => out.push_str("%3B"),
            '=' => out.push_str("%3D"),
            other => out.push(other),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    text.replace("%3B", ";")
        .replace("%3D", "=")
        .replace("%25", "%")
}

/// The short name of a tag key (display names are short, and batchlabel's keys all start the
/// same); any other key is kept whole behind a `~`.
fn short(key: &str) -> String {
    key.strip_prefix("batchlabel_")
        .map_or_else(|| format!("~{key}"), str::to_string)
}

fn long(key: &str) -> String {
    key.strip_prefix('~')
        .map_or_else(|| format!("batchlabel_{key}"), str::to_string)
}

/// The display name carrying `tags`.
pub(crate) fn display_name(tags: &Tags) -> String {
    let mut name = PREFIX.to_string();
    for (key, value) in tags {
        name.push(';');
        name.push_str(&escape(&short(key)));
        name.push('=');
        name.push_str(&escape(value));
    }
    name
}

/// The tags a display name carries; `None` for a name this tool did not write.
pub(crate) fn tags_of(display_name: &str) -> Option<Tags> {
    let mut parts = display_name.split(';');
    if parts.next()? != PREFIX {
        return None;
    }
    let mut tags = Tags::new();
    for part in parts {
        let (key, value) = part.split_once('=')?;
        tags.insert(long(&unescape(key)), unescape(value));
    }
    Some(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_into_their_tags() {
        let tags = Tags::from([
            ("batchlabel_job".to_string(), "a;b=c%d".to_string()),
            ("batchlabel_run".to_string(), "3".to_string()),
            ("other".to_string(), "x".to_string()),
        ]);
        let name = display_name(&tags);
        assert_eq!(name, "batchlabel;job=a%3Bb%3Dc%25d;run=3;~other=x");
        assert_eq!(tags_of(&name), Some(tags));
        assert_eq!(tags_of("someone else's batch"), None);
    }
}
