//! Mistral input lines → the internal batch's lines, and the small parsers the routes need.
//! A Mistral line is `{"custom_id", "body"}` (a chat-completions body, `model` optional when
//! the job names one); it becomes an OpenAI line with `method`, `url` and `body.model` added.
//! A line that cannot be translated is copied as it is, so the shared whole-file check fails
//! the job exactly as it fails an OpenAI batch (with the line's number), never a panic here.

use std::io::{BufRead, Write};
use std::path::Path;

use serde_json::{Map, Value, json};

use super::{ENDPOINT, INTERNAL_ENDPOINT};

/// What translating a job's input files found.
#[derive(Debug, Default)]
pub(super) struct Translated {
    /// Bytes written.
    pub(super) bytes: u64,
    /// Characters written (the enqueued-token estimate).
    pub(super) characters: u64,
    /// Non-blank lines.
    pub(super) requests: u64,
    /// The first request's `body.model` once filled in.
    pub(super) first_model: Option<String>,
    /// The first line (across the files, 1-based) with no model while the job names none.
    pub(super) unnamed_model: Option<u64>,
}

/// Mistral's spellings of chat fields → OpenAI's, so every engine (an upstream OpenAI-compatible
/// server included) understands them: `random_seed` is `seed`. `max_tokens` is OpenAI's too.
pub(crate) fn rename_mistral_fields(body: &mut Map<String, Value>) {
    if let Some(seed) = body.remove("random_seed") {
        body.entry("seed").or_insert(seed);
    }
}

/// Translate `inputs` in order into `target`: one internal line per input line.
pub(super) fn translate_files(
    inputs: &[std::path::PathBuf],
    model: Option<&str>,
    target: &Path,
) -> std::io::Result<Translated> {
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(target)?);
    let mut found = Translated::default();
    for input in inputs {
        let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(input)?);
        for raw in reader.split(b'\n') {
            let raw = raw?;
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            found.requests += 1;
            let line = match translate_line(&raw, model) {
                Some((line, line_model)) => {
                    if line_model.is_none() && model.is_none() && found.unnamed_model.is_none() {
                        found.unnamed_model = Some(found.requests);
                    }
                    if found.requests == 1 {
                        found.first_model = line_model;
                    }
                    line.into_bytes()
                }
                None => raw,
            };
            writer.write_all(&line)?;
            writer.write_all(b"\n")?;
            found.bytes += line.len() as u64 + 1;
            found.characters += crate::queue::characters(&line) + 1;
        }
    }
    writer.flush()?;
    Ok(found)
}

/// One line → the internal line and its model; `None` when it is not a request object.
fn translate_line(raw: &[u8], model: Option<&str>) -> Option<(String, Option<String>)> {
    let mut line = serde_json::from_slice::<Map<String, Value>>(raw).ok()?;
    let custom_id = line.remove("custom_id").filter(Value::is_string)?;
    let Some(Value::Object(mut body)) = line.remove("body") else {
        return None;
    };
    let named = body
        .get("model")
        .and_then(Value::as_str)
        .is_some_and(|name| !name.is_empty());
    if !named && let Some(model) = model {
        body.insert("model".into(), json!(model));
    }
    rename_mistral_fields(&mut body);
    let line_model = body
        .get("model")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .map(str::to_string);
    // Lines with OpenAI's method and url are accepted: either spelling of the endpoint is this
    // batch's; any other url stays, for the check to report as a mismatch.
    let url = match line.get("url").and_then(Value::as_str) {
        None | Some(ENDPOINT | "/chat/completions") => INTERNAL_ENDPOINT,
        Some(other) => other,
    };
    let method = line.get("method").and_then(Value::as_str).unwrap_or("POST");
    let translated = json!({"custom_id": custom_id, "method": method, "url": url, "body": body});
    Some((translated.to_string(), line_model))
}

/// A job id shaped like Mistral's (a UUID), made from a store id so ids still sort by creation.
pub(super) fn job_id(store_id: &str) -> String {
    let digits: String = store_id.chars().filter(char::is_ascii_hexdigit).collect();
    let tail = xxhash_rust::xxh3::xxh3_64(store_id.as_bytes());
    let hex = format!("{digits}{tail:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// An RFC 3339 time (`2026-11-27T07:19:42Z`, `…T07:19:42.123+01:00`) or a bare date as seconds
/// since the epoch.
pub(super) fn parse_rfc3339(text: &str) -> Option<i64> {
    let number = |part: &str| -> Option<i64> {
        (!part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    let (date, time) = match text.split_once(['T', 't', ' ']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let mut parts = date.splitn(3, '-');
    let (year, month, day) = (
        number(parts.next()?)?,
        number(parts.next()?)?,
        number(parts.next()?)?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    if let Some(time) = time {
        let (clock, offset) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
            (clock, 0)
        } else {
            let at = time.rfind(['+', '-'])?;
            let (clock, zone) = time.split_at(at);
            let (hours, minutes) = zone[1..].split_once(':')?;
            let minutes = number(hours)? * 60 + number(minutes)?;
            (
                clock,
                if zone.starts_with('-') {
                    -minutes
                } else {
                    minutes
                } * 60,
            )
        };
        let clock = clock.split_once('.').map_or(clock, |(whole, _)| whole);
        let mut fields = clock.splitn(3, ':');
        let (hour, minute, second) = (
            number(fields.next()?)?,
            number(fields.next()?)?,
            number(fields.next().unwrap_or("0"))?,
        );
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        seconds += hour * 3_600 + minute * 60 + second - offset;
    }
    Some(seconds)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days-from-civil).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_gain_method_url_and_the_jobs_model() {
        let (line, model) = translate_line(
            br#"{"custom_id":"a","body":{"messages":[],"random_seed":7,"max_tokens":5}}"#,
            Some("mistral-small-latest"),
        )
        .unwrap();
        let line: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(line["method"], "POST");
        assert_eq!(line["url"], INTERNAL_ENDPOINT);
        assert_eq!(line["body"]["model"], "mistral-small-latest");
        assert_eq!(line["body"]["seed"], 7);
        assert_eq!(line["body"]["max_tokens"], 5);
        assert!(line["body"].get("random_seed").is_none());
        assert_eq!(model.as_deref(), Some("mistral-small-latest"));
        let own = br#"{"custom_id":"b","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}"#;
        let (line, model) = translate_line(own, Some("job")).unwrap();
        assert!(line.contains(INTERNAL_ENDPOINT));
        assert_eq!(model.as_deref(), Some("m"));
        for bad in [
            &b"{not json"[..],
            br#"{"custom_id":"a"}"#,
            br#"{"custom_id":1,"body":{}}"#,
            br"[1]",
        ] {
            assert!(translate_line(bad, Some("m")).is_none());
        }
    }

    #[test]
    fn parses_rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-27T07:19:42Z"), Some(1_795_763_982));
        assert_eq!(
            parse_rfc3339("2026-11-27T08:19:42.5+01:00"),
            Some(1_795_763_982)
        );
        assert_eq!(parse_rfc3339("2000-02-29"), Some(951_782_400));
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-11-27T25:00:00Z",
            "2026-11-27T07:19:42",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn job_ids_look_like_uuids_and_sort_by_creation() {
        let first = job_id("0000000009abcdef0123456789");
        let second = job_id("0000000010abcdef0123456789");
        assert_eq!(first.len(), 36);
        assert_eq!(first.matches('-').count(), 4);
        assert!(first < second);
    }
}
