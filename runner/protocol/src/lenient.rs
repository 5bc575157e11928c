//! Reading what Azure OpenAI sends where OpenAI's shape is strict: statuses
//! in other spellings (`Validating`, `InProgress`, `canceled`) and times as RFC 3339 text
//! instead of Unix seconds. OpenAI's own answers read the same as before.

use serde::{Deserialize, Deserializer};

use crate::BatchStatus;

impl<'de> Deserialize<'de> for BatchStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        status(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown batch status `{text}`")))
    }
}

/// The status `text` names, in any case, with or without `_`, `-` or spaces, in US or UK
/// spelling.
fn status(text: &str) -> Option<BatchStatus> {
    let folded: String = text
        .chars()
        .filter(|character| !matches!(character, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    Some(match folded.as_str() {
        "validating" => BatchStatus::Validating,
        "failed" => BatchStatus::Failed,
        "inprogress" | "running" => BatchStatus::InProgress,
        "finalizing" | "finalising" => BatchStatus::Finalizing,
        "completed" | "succeeded" => BatchStatus::Completed,
        "expired" => BatchStatus::Expired,
        "cancelling" | "canceling" => BatchStatus::Cancelling,
        "cancelled" | "canceled" => BatchStatus::Cancelled,
        _ => return None,
    })
}

/// Unix seconds from a number or an RFC 3339 / ISO 8601 text.
pub(crate) fn time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Time {
        Seconds(i64),
        Fractional(f64),
        Text(String),
    }
    match Time::deserialize(deserializer)? {
        Time::Seconds(seconds) => Ok(seconds),
        Time::Fractional(seconds) => Ok(seconds as i64),
        Time::Text(text) => unix_seconds(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a time"))),
    }
}

/// [`time`] for a field that may be absent or null.
pub(crate) fn optional_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "time")] i64);
    Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(seconds)| seconds))
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` as Unix seconds.
pub fn unix_seconds(text: &str) -> Option<i64> {
    let text = text.trim();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|byte| byte.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let bytes = text.as_bytes();
    if bytes.len() < 19 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let offset = rest.get(1..)?;
            let (hours, minutes) = match offset.split_once(':') {
                Some(parts) => parts,
                None => (offset.get(..2)?, offset.get(2..)?),
            };
            let minutes = if minutes.is_empty() { "0" } else { minutes };
            let (hours, minutes) = (hours.parse::<i64>().ok()?, minutes.parse::<i64>().ok()?);
            if !(0..=23).contains(&hours) || !(0..=59).contains(&minutes) {
                return None;
            }
            sign * (hours * 3600 + minutes * 60)
        }
    };
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_in_azure_spellings() {
        let read = |text: &str| serde_json::from_str::<BatchStatus>(&format!("\"{text}\"")).ok();
        assert_eq!(read("Validating"), Some(BatchStatus::Validating));
        assert_eq!(read("InProgress"), Some(BatchStatus::InProgress));
        assert_eq!(read("in_progress"), Some(BatchStatus::InProgress));
        assert_eq!(read("Canceled"), Some(BatchStatus::Cancelled));
        assert_eq!(read("cancelling"), Some(BatchStatus::Cancelling));
        assert_eq!(read("Finalizing"), Some(BatchStatus::Finalizing));
        assert_eq!(read("bogus"), None);
    }

    #[test]
    fn a_batch_with_azure_times_reads() {
        let text = r#"{"id":"batch_1","object":"batch","endpoint":"/chat/completions","input_file_id":"file-1","completion_window":"24h","status":"Validating","created_at":"2024-07-19T21:13:57Z","expires_at":"2024-07-20T21:13:57Z","in_progress_at":null,"request_counts":{"total":0,"completed":0,"failed":0}}"#;
        let batch: crate::Batch = serde_json::from_str(text).expect("reads");
        assert_eq!(batch.status, BatchStatus::Validating);
        assert_eq!(batch.created_at, 1_721_423_637);
        assert_eq!(batch.expires_at, Some(1_721_510_037));
        assert_eq!(batch.in_progress_at, None);
        let file = r#"{"id":"file-1","object":"file","bytes":3,"created_at":"2024-07-19T21:13:57Z","filename":"a.jsonl","purpose":"batch"}"#;
        let file: crate::FileObject = serde_json::from_str(file).expect("reads");
        assert_eq!(file.created_at, 1_721_423_637);
    }

    #[test]
    fn times_as_numbers_or_text() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            unix_seconds("2024-07-19T21:13:57.2681394+00:00"),
            Some(1_721_423_637)
        );
        assert_eq!(unix_seconds("2026-11-27T07:19:42Z"), Some(1_795_763_982));
        assert_eq!(
            unix_seconds("2026-11-27T08:19:42+01:00"),
            Some(1_795_763_982)
        );
        assert_eq!(unix_seconds("yesterday"), None);
        assert_eq!(unix_seconds("2024-01-01T00:00:00+0é"), None);
        assert_eq!(
            unix_seconds("2024-01-01T00:00:00+99999999999999999:00"),
            None
        );
        assert_eq!(unix_seconds("2024-01-01T00:00:00+"), None);
        assert_eq!(unix_seconds("99999-01-01T00:00:00Z"), None);
    }
}
