//! The HTML page: inline CSS, inline SVG charts, escaped text; nothing fetched when viewed.

use std::fmt::Write as _;

use batchlabel_eval::Evaluation;

use crate::charts;

/// What the ledger says about the run.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// Job name.
    pub job: String,
    /// The spec's description.
    pub description: Option<String>,
    /// Ledger run id.
    pub run: i64,
    /// `running`, `finished`, …
    pub state: String,
    /// Provider and model.
    pub model: String,
    /// Spec fingerprint.
    pub spec_fingerprint: String,
    /// When the run started (RFC 3339).
    pub started: String,
    /// Row counts: all, labeled, failed, pending.
    pub rows: [u64; 4],
    /// Requests, duplicate rows sharing one, requests reused from earlier runs.
    pub requests: [u64; 3],
    /// Batches created and attempts made.
    pub batches: u64,
    /// Highest attempt.
    pub attempts: i64,
    /// Failed rows by reason.
    pub failures: Vec<(String, u64)>,
    /// Prompt and completion tokens billed.
    pub tokens: [u64; 2],
    /// Dollars billed (price table).
    pub cost_usd: f64,
    /// Pre-flight bound, when a budget was in force.
    pub estimated_usd_max: Option<f64>,
    /// Usage the output files reported, in dollars.
    pub actual_usd: f64,
}

/// Everything on the page.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// The run.
    pub facts: RunFacts,
    /// The label field shown.
    pub field: String,
    /// Its labels.
    pub labels: Vec<String>,
    /// Rows predicted with each label (over all results).
    pub predicted: Vec<u64>,
    /// The evaluation against gold labels, when given.
    pub evaluation: Option<&'a Evaluation>,
    /// When the page was made (RFC 3339).
    pub generated_at: String,
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1100px;color:#1d2430;background:#fafbfc}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dde2e8;padding-bottom:4px}
.muted{color:#667085}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:10px 16px;min-width:120px}
.card b{display:block;font-size:22px}.card.good b{color:#1e7b3c}.card.bad b{color:#b42318}
table{border-collapse:collapse;background:#fff;margin:8px 0;font-size:14px}
td,th{border:1px solid #dde2e8;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:12px 0;background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:8px;overflow-x:auto}
figcaption{font-size:13px;color:#667085}
";

/// The page for `input`.
pub fn render_html(input: &ReportInput<'_>) -> Result<String, String> {
    let facts = &input.facts;
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>batchlabel report: {job} run {run}</title><style>{STYLE}</style></head><body>\n",
        job = escape(&facts.job),
        run = facts.run
    );
    let _ = writeln!(
        html,
        "<h1>{} <span class=\"muted\">run {}</span></h1>",
        escape(&facts.job),
        facts.run
    );
    if let Some(description) = &facts.description {
        let _ = writeln!(html, "<p>{}</p>", escape(description));
    }
    let _ = writeln!(
        html,
        "<p class=\"muted\">{} · {} · started {} · spec {} · report made {}</p>",
        escape(&facts.model),
        escape(&facts.state),
        escape(&facts.started),
        escape(&facts.spec_fingerprint.chars().take(12).collect::<String>()),
        escape(&input.generated_at)
    );
    summary(&mut html, input);
    cost(&mut html, facts);
    charts_and_metrics(&mut html, input)?;
    html.push_str("</body></html>\n");
    Ok(html)
}

fn card(html: &mut String, class: &str, value: &str, caption: &str) {
    let _ = write!(
        html,
        "<div class=\"card {class}\"><b>{}</b>{}</div>",
        escape(value),
        escape(caption)
    );
}

fn summary(html: &mut String, input: &ReportInput<'_>) {
    let facts = &input.facts;
    let [rows, labeled, failed, pending] = facts.rows;
    html.push_str("<h2>Summary</h2><div class=\"cards\">");
    card(html, "", &rows.to_string(), "rows");
    card(html, "good", &labeled.to_string(), "labeled");
    card(
        html,
        if failed > 0 { "bad" } else { "" },
        &failed.to_string(),
        "failed",
    );
    if pending > 0 {
        card(html, "", &pending.to_string(), "pending");
    }
    if let Some(evaluation) = input.evaluation {
        if let Some(metrics) = &evaluation.single_label {
            card(html, "", &format!("{:.3}", metrics.accuracy), "accuracy");
            card(html, "", &format!("{:.3}", metrics.macro_f1), "macro-F1");
        }
        if let Some(metrics) = &evaluation.multi_label_metrics {
            card(html, "", &format!("{:.3}", metrics.micro_f1), "micro-F1");
            card(html, "", &format!("{:.3}", metrics.macro_f1), "macro-F1");
            card(
                html,
                "",
                &format!("{:.3}", metrics.exact_match),
                "exact match",
            );
        }
    }
    card(html, "", &format!("${:.4}", facts.cost_usd), "cost");
    html.push_str("</div>\n<table>");
    let [requests, duplicates, cached] = facts.requests;
    let _ = write!(
        html,
        "<tr><th>requests</th><td class=\"n\">{requests}</td></tr><tr><th>duplicate rows sharing a request</th><td class=\"n\">{duplicates}</td></tr><tr><th>requests reused from earlier runs</th><td class=\"n\">{cached}</td></tr><tr><th>batches</th><td class=\"n\">{}</td></tr><tr><th>attempts</th><td class=\"n\">{}</td></tr>",
        facts.batches, facts.attempts
    );
    for (reason, count) in &facts.failures {
        let _ = write!(
            html,
            "<tr><th>failed: {}</th><td class=\"n\">{count}</td></tr>",
            escape(reason)
        );
    }
    html.push_str("</table>\n");
}

fn cost(html: &mut String, facts: &RunFacts) {
    html.push_str("<h2>Cost</h2><table><tr><th></th><th>input tokens</th><th>output tokens</th><th>dollars</th></tr>");
    let _ = write!(
        html,
        "<tr><th>billed (all attempts)</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">${:.4}</td></tr>",
        facts.tokens[0], facts.tokens[1], facts.cost_usd
    );
    match facts.estimated_usd_max {
        Some(estimate) => {
            let _ = write!(
                html,
                "<tr><th>pre-flight bound</th><td></td><td></td><td class=\"n\">≤ ${estimate:.4}</td></tr><tr><th>reported by the output files</th><td></td><td></td><td class=\"n\">${:.4}</td></tr>",
                facts.actual_usd
            );
        }
        None => html.push_str(
            "<tr><th>pre-flight bound</th><td colspan=\"3\" class=\"muted\">none (no budget was set)</td></tr>",
        ),
    }
    html.push_str("</table>\n");
}

fn figure(html: &mut String, svg: &str, caption: &str) {
    let _ = writeln!(
        html,
        "<figure>{svg}<figcaption>{}</figcaption></figure>",
        escape(caption)
    );
}

fn charts_and_metrics(html: &mut String, input: &ReportInput<'_>) -> Result<(), String> {
    let _ = writeln!(
        html,
        "<h2>Labels: <code>{}</code></h2>",
        escape(&input.field)
    );
    let predicted: Vec<f64> = input.predicted.iter().map(|count| *count as f64).collect();
    let Some(evaluation) = input.evaluation else {
        let svg = charts::bars("Label distribution", &input.labels, &predicted, None, None)?;
        figure(html, &svg, "Rows per predicted label.");
        return Ok(());
    };
    let labels: Vec<String> = evaluation
        .distribution
        .iter()
        .map(|count| count.label.clone())
        .collect();
    let predicted: Vec<f64> = evaluation
        .distribution
        .iter()
        .map(|count| count.predicted as f64)
        .collect();
    let gold: Vec<f64> = evaluation
        .distribution
        .iter()
        .map(|count| count.gold as f64)
        .collect();
    let svg = charts::bars(
        "Label distribution: predicted (bars) and gold (outlines)",
        &labels,
        &predicted,
        Some(&gold),
        None,
    )?;
    figure(
        html,
        &svg,
        &format!(
            "Evaluated rows per label, against gold labels from {}.",
            evaluation.gold
        ),
    );
    let classes = evaluation
        .single_label
        .as_ref()
        .map(|metrics| &metrics.classes)
        .or(evaluation
            .multi_label_metrics
            .as_ref()
            .map(|metrics| &metrics.labels))
        .cloned()
        .unwrap_or_default();
    let present: Vec<_> = classes
        .iter()
        .filter(|class| class.support > 0 || class.predicted > 0)
        .collect();
    if let Some(metrics) = &evaluation.single_label {
        let svg = charts::heatmap(
            &metrics
                .classes
                .iter()
                .map(|class| class.label.clone())
                .collect::<Vec<_>>(),
            &metrics.confusion,
        )?;
        figure(
            html,
            &svg,
            "Cell shade: share of the gold row; green on the diagonal (right), red off it (wrong). The last column counts rows that failed.",
        );
    }
    let f1_labels: Vec<String> = present.iter().map(|class| class.label.clone()).collect();
    let f1: Vec<f64> = present.iter().map(|class| class.f1).collect();
    let svg = charts::bars("F1 per label", &f1_labels, &f1, None, Some(1.0))?;
    figure(
        html,
        &svg,
        "Labels that occur in the gold labels or the predictions.",
    );
    html.push_str("<table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th><th>predicted</th></tr>");
    for class in &present {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&class.label),
            class.precision,
            class.recall,
            class.f1,
            class.support,
            class.predicted
        );
    }
    html.push_str("</table>\n");
    worst_rows(html, evaluation);
    Ok(())
}

fn worst_rows(html: &mut String, evaluation: &Evaluation) {
    html.push_str("<h2>Worst rows</h2>");
    if evaluation.wrong_rows.is_empty() && evaluation.failed_rows.is_empty() {
        html.push_str("<p>Every evaluated row is right.</p>");
        return;
    }
    if !evaluation.wrong_rows.is_empty() {
        html.push_str("<p class=\"muted\">Wrong answers, the most confident first (when the model gave scores).</p><table><tr><th>id</th><th>text</th><th>gold</th><th>predicted</th><th>confidence</th></tr>");
        for row in evaluation.wrong_rows.iter().take(25) {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                escape(&row.id),
                escape(row.text.as_deref().unwrap_or("")),
                escape(&row.gold.join(", ")),
                escape(&row.predicted.join(", ")),
                row.confidence
                    .map(|confidence| format!("{:.0}%", confidence * 100.0))
                    .unwrap_or_default()
            );
        }
        html.push_str("</table>\n");
    }
    if !evaluation.failed_rows.is_empty() {
        html.push_str("<p class=\"muted\">Rows that failed (counted wrong).</p><table><tr><th>id</th><th>text</th><th>gold</th><th>reason</th><th>detail</th></tr>");
        for row in evaluation.failed_rows.iter().take(25) {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&row.id),
                escape(row.text.as_deref().unwrap_or("")),
                escape(&row.gold.join(", ")),
                escape(&row.reason),
                escape(&row.detail)
            );
        }
        html.push_str("</table>\n");
    }
}
