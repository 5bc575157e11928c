//! Where a labeled row came from: the provenance columns, named once in [`PROVENANCE`] and
//! held by [`Provenance`] in that order, which every sink writes after the labels.

use std::borrow::Cow;

/// The provenance column names, in the order every sink writes them.
pub const PROVENANCE: [&str; 13] = batchlabel_spec::PROVENANCE_COLUMNS;

/// Where one labeled row came from; its fields are the [`PROVENANCE`] columns, in order (the
/// JSON Lines sink serializes it as it is).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Provenance<'a> {
    /// The model the spec names.
    pub model: &'a str,
    /// The snapshot that answered.
    pub model_snapshot: Option<&'a str>,
    /// The spec fingerprint.
    pub spec_fingerprint: &'a str,
    /// The batch that answered.
    pub batch_id: Option<&'a str>,
    /// The request.
    pub custom_id: &'a str,
    /// Which attempt ended it.
    pub attempt: i64,
    /// Prompt tokens (0 for a duplicate or cached row).
    pub input_tokens: i64,
    /// Completion tokens (0 for a duplicate or cached row).
    pub output_tokens: i64,
    /// Dollars (0 for a duplicate or cached row).
    pub cost_usd: f64,
    /// When the result came back (RFC 3339).
    pub labeled_at: &'a str,
    /// `batch`, `duplicate` or `cache`.
    pub source: &'a str,
    /// The run that paid for the result.
    pub run: i64,
    /// With `batch.pack`: the packed request that answered it and the row's item in it
    /// (`pk-…#3`).
    pub packed_in: Option<&'a str>,
}

/// One provenance value, typed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ProvenanceValue<'a> {
    /// Text, or none.
    Text(Option<&'a str>),
    /// A whole number.
    Integer(i64),
    /// Dollars.
    Real(f64),
}

impl<'a> ProvenanceValue<'a> {
    /// As a CSV cell (empty for none).
    pub(crate) fn cell(self) -> Cow<'a, str> {
        match self {
            Self::Text(text) => Cow::Borrowed(text.unwrap_or("")),
            Self::Integer(number) => Cow::Owned(number.to_string()),
            Self::Real(number) => Cow::Owned(number.to_string()),
        }
    }

    /// As text, `None` for none (a NULL cell in a database).
    pub(crate) fn text(self) -> Option<String> {
        match self {
            Self::Text(None) => None,
            other => Some(other.cell().into_owned()),
        }
    }

    /// As an SQLite value (NULL for none).
    pub(crate) fn sql(self) -> rusqlite::types::Value {
        use rusqlite::types::Value as Sql;
        match self {
            Self::Text(text) => text.map_or(Sql::Null, |text| Sql::Text(text.to_string())),
            Self::Integer(number) => Sql::Integer(number),
            Self::Real(number) => Sql::Real(number),
        }
    }
}

impl Provenance<'_> {
    /// The values, in [`PROVENANCE`] order.
    pub(crate) fn values(&self) -> [ProvenanceValue<'_>; PROVENANCE.len()] {
        use ProvenanceValue::{Integer, Real, Text};
        [
            Text(Some(self.model)),
            Text(self.model_snapshot),
            Text(Some(self.spec_fingerprint)),
            Text(self.batch_id),
            Text(Some(self.custom_id)),
            Integer(self.attempt),
            Integer(self.input_tokens),
            Integer(self.output_tokens),
            Real(self.cost_usd),
            Text(Some(self.labeled_at)),
            Text(Some(self.source)),
            Integer(self.run),
            Text(self.packed_in),
        ]
    }
}

/// Unix seconds as an RFC 3339 UTC time.
pub fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::{PROVENANCE, Provenance, ProvenanceValue};

    fn sample() -> Provenance<'static> {
        Provenance {
            model: "gpt-4o-mini",
            model_snapshot: None,
            spec_fingerprint: "abc123",
            batch_id: Some("batch_1"),
            custom_id: "r-7",
            attempt: 2,
            input_tokens: 31,
            output_tokens: 5,
            cost_usd: 0.25,
            labeled_at: "2026-11-24T00:00:00Z",
            source: "batch",
            run: 3,
            packed_in: None,
        }
    }

    #[test]
    fn serialized_keys_are_the_provenance_columns() {
        let serialized = serde_json::to_value(sample()).expect("provenance serializes");
        let keys: Vec<&str> = serialized
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, PROVENANCE);
    }

    #[test]
    fn values_follow_the_provenance_columns() {
        let provenance = sample();
        let serialized = serde_json::to_value(&provenance).expect("provenance serializes");
        for (name, value) in PROVENANCE.iter().zip(provenance.values()) {
            let expected = &serialized[*name];
            match value {
                ProvenanceValue::Text(text) => assert_eq!(expected.as_str(), text, "{name}"),
                ProvenanceValue::Integer(number) => {
                    assert_eq!(expected.as_i64(), Some(number), "{name}");
                }
                ProvenanceValue::Real(number) => {
                    assert_eq!(expected.as_f64(), Some(number), "{name}");
                }
            }
        }
    }

    #[test]
    fn formats_times() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_478_400), "2026-11-24T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400 + 3661), "2000-02-29T01:01:01Z");
    }
}
