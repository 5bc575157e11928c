//! The job list: page numbers (0-based, newest first) and Mistral's filters (`metadata`, a
//! JSON object every listed job's metadata contains, or its entries as parameters of their own
//! as the official SDK sends them; `created_after`, RFC 3339; `status`,
//! repeated or comma-separated; `model`), answered as `{"data", "object": "list", "total"}`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::jobs::{current, render};
use super::records::Job;
use super::translate::parse_rfc3339;
use super::{status_of, unprocessable};
use crate::routes::AppState;

/// The list's query: page numbers and filters.
struct ListQuery {
    page: usize,
    page_size: usize,
    metadata: Option<Map<String, Value>>,
    created_after: Option<i64>,
    model: Option<String>,
    statuses: Vec<String>,
}

const STATUSES: [&str; 7] = [
    "QUEUED",
    "RUNNING",
    "SUCCESS",
    "FAILED",
    "TIMEOUT_EXCEEDED",
    "CANCELLATION_REQUESTED",
    "CANCELLED",
];

fn parse_list(query: &str) -> Result<ListQuery, String> {
    let url = reqwest::Url::parse(&format!("http://local/?{query}"))
        .map_err(|problem| format!("query: {problem}"))?;
    let mut parsed = ListQuery {
        page: 0,
        page_size: 100,
        metadata: None,
        created_after: None,
        model: None,
        statuses: Vec::new(),
    };
    let number = |key: &str, value: &str| {
        value
            .parse::<usize>()
            .map_err(|_| format!("{key}: Input should be a valid integer, not `{value}`"))
    };
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "page" => parsed.page = number("page", &value)?,
            "page_size" => match number("page_size", &value)? {
                size @ 1..=10_000 => parsed.page_size = size,
                _ => return Err("page_size: Input should be from 1 to 10000".into()),
            },
            "metadata" => match serde_json::from_str(&value) {
                Ok(Value::Object(metadata)) => parsed.metadata = Some(metadata),
                _ => return Err("metadata: Input should be a JSON object".into()),
            },
            "created_after" => match parse_rfc3339(&value) {
                Some(seconds) => parsed.created_after = Some(seconds),
                None => return Err(format!("created_after: `{value}` is not an RFC 3339 time")),
            },
            "model" => parsed.model = Some(value.into_owned()),
            // Repeated (`status=A&status=B`) or comma-separated.
            "status" => {
                for status in value.split(',').filter(|status| !status.is_empty()) {
                    if !STATUSES.contains(&status) {
                        return Err(format!(
                            "status: `{status}` is not one of {}",
                            STATUSES.join(", ")
                        ));
                    }
                    parsed.statuses.push(status.to_string());
                }
            }
            // Other list parameters this server does not filter by.
            "agent_id" | "created_by_me" | "order_by" => {}
            // The official SDK sends the `metadata` object form-exploded: each entry as its
            // own parameter (`?job=labels`), a string.
            _ => {
                parsed
                    .metadata
                    .get_or_insert_with(Map::new)
                    .insert(key.into_owned(), Value::String(value.into_owned()));
            }
        }
    }
    Ok(parsed)
}

impl ListQuery {
    fn keeps(&self, state: &AppState, job: &Job) -> bool {
        let metadata_ok = self.metadata.as_ref().is_none_or(|wanted| {
            wanted.iter().all(|(key, value)| {
                job.metadata.as_ref().and_then(|metadata| metadata.get(key)) == Some(value)
            })
        });
        let status_ok = self.statuses.is_empty() || {
            let status = state
                .store
                .batch(&job.batch_id)
                .map_or("QUEUED", |batch| status_of(batch.status));
            self.statuses.iter().any(|wanted| wanted == status)
        };
        metadata_ok
            && status_ok
            && self
                .created_after
                .is_none_or(|after| job.created_at >= after)
            && self
                .model
                .as_ref()
                .is_none_or(|model| job.model.as_ref() == Some(model))
    }
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = match parse_list(query.as_deref().unwrap_or_default()) {
        Ok(query) => query,
        Err(problem) => return unprocessable(&problem),
    };
    // Newest first; ids sort by creation.
    let jobs: Vec<Arc<Job>> = state
        .mistral
        .all()
        .into_iter()
        .rev()
        .filter(|job| query.keeps(&state, job))
        .collect();
    let mut data = Vec::new();
    let start = query.page.saturating_mul(query.page_size);
    for job in jobs.iter().skip(start).take(query.page_size) {
        match current(&state, &job.id).await {
            Ok((job, batch)) => data.push(render(&job, batch.as_ref())),
            Err(response) if response.status() == StatusCode::NOT_FOUND => {}
            Err(response) => return response,
        }
    }
    Json(json!({"data": data, "object": "list", "total": jobs.len()})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_query_reads_pages_and_filters() {
        let query = parse_list(
            "page=2&page_size=5&metadata=%7B%22run%22%3A%221%22%7D&status=RUNNING,QUEUED&status=SUCCESS&created_after=2026-01-01T00:00:00Z",
        )
        .unwrap();
        assert_eq!((query.page, query.page_size), (2, 5));
        assert_eq!(query.metadata.unwrap()["run"], "1");
        assert_eq!(query.statuses, ["RUNNING", "QUEUED", "SUCCESS"]);
        assert!(query.created_after.is_some());
        // The official SDK's form-exploded metadata.
        let exploded = parse_list("page=0&job=labels&run=3&order_by=-created").unwrap();
        let metadata = exploded.metadata.unwrap();
        assert_eq!(
            (metadata["job"].as_str(), metadata["run"].as_str()),
            (Some("labels"), Some("3"))
        );
        assert_eq!(metadata.len(), 2);
        for bad in [
            "page=-1",
            "page_size=0",
            "metadata=nope",
            "status=DONE",
            "created_after=today",
        ] {
            assert!(parse_list(bad).is_err(), "{bad}");
        }
    }
}
