//! `batchlabel serve`: the local OpenAI Files + Batches server.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use batchlabel_serve::{BatchFate, Engine, Faults, HttpFault, Script, ServeOptions, Server};

use crate::ExitStatus;
use crate::args::{EngineKind, ServeArgs};
use crate::printer::Printer;

fn pair(text: &str, flag: &str) -> Result<(String, u64), String> {
    let (name, every) = text
        .split_once(':')
        .ok_or_else(|| format!("`{flag} {text}`: expected NAME:N, e.g. `429:3`"))?;
    let every = every
        .parse::<u64>()
        .ok()
        .filter(|every| *every > 0)
        .ok_or_else(|| format!("`{flag} {text}`: N must be a positive whole number"))?;
    Ok((name.to_string(), every))
}

fn options(args: &ServeArgs) -> Result<ServeOptions, String> {
    let mut faults = Faults::default();
    for text in &args.fault_http {
        let (status, every) = pair(text, "--fault-http")?;
        let status = status
            .parse::<u16>()
            .ok()
            .filter(|status| (400..600).contains(status))
            .ok_or_else(|| format!("`--fault-http {text}`: the status must be 400..599"))?;
        faults.http.push(HttpFault { status, every });
    }
    for text in &args.fault_batch {
        let (fate, every) = pair(text, "--fault-batch")?;
        let fate = match fate.as_str() {
            "failed" => BatchFate::Failed,
            "expired" => BatchFate::Expired,
            "cancelled" => BatchFate::Cancelled,
            other => {
                return Err(format!(
                    "`--fault-batch {text}`: unknown fate `{other}`; expected failed, expired or cancelled"
                ));
            }
        };
        faults.batch_fates.push((fate, every));
    }
    faults.drop_every = args.fault_drop_every;
    faults.slow_poll = Duration::from_millis(args.fault_slow_poll_ms);
    faults.malformed_every = args.fault_malformed_every;
    faults.missing_every = args.fault_missing_every;
    faults.line_error_every = args.fault_line_error_every;
    let engine = match args.engine {
        EngineKind::Scripted => {
            let script = match &args.script {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
                    Script::parse(&text).map_err(|error| {
                        format!("`{}`:{}:{}: {error}; hint: the script is a JSON array of rules like {{\"contains\": \"refund\", \"content\": \"{{\\\"intent\\\": \\\"refund\\\"}}\"}}", path.display(), error.line(), error.column())
                    })?
                }
                None => Script::default(),
            };
            let mut pack_faults = batchlabel_serve::PackFaults::default();
            pack_faults.item_invalid_every = args.fault_item_invalid_every;
            pack_faults.item_missing_every = args.fault_item_missing_every;
            pack_faults.refusal_every = args.fault_pack_refusal_every;
            pack_faults.truncate_every = args.fault_pack_truncate_every;
            Engine::Scripted(std::sync::Arc::new(
                script
                    .with_exact_usage(args.exact_usage)
                    .with_pack_faults(pack_faults),
            ))
        }
        EngineKind::Local => batchlabel_providers::local::local_engine(
            &args.model,
            Path::new("."),
            args.threads,
            args.one_of.into(),
        )
        .map_err(|message| message.trim_start_matches("error: ").trim_end().to_string())?,
        EngineKind::Upstream => Engine::Upstream {
            url: args.upstream_url.clone().ok_or(
                "`--engine upstream` needs `--upstream-url`, e.g. http://127.0.0.1:8080/v1",
            )?,
            api_key: std::env::var("UPSTREAM_API_KEY").ok(),
        },
    };
    let api_key = match &args.require_key_env {
        Some(variable) => Some(
            std::env::var(variable)
                .map_err(|_| format!("`--require-key-env {variable}`: the variable is not set"))?,
        ),
        None => None,
    };
    Ok(ServeOptions {
        address: SocketAddr::from(([127, 0, 0, 1], args.port)),
        state_dir: args.state_dir.clone(),
        engine,
        faults,
        max_requests_per_file: args.max_requests_per_file,
        api_key,
        step_delay: Duration::from_millis(args.step_delay_ms),
        azure_max_enqueued_tokens: batchlabel_serve::DEFAULT_AZURE_MAX_ENQUEUED_TOKENS,
        max_enqueued_tokens: args.max_enqueued_tokens,
    })
}

pub(crate) fn serve(args: &ServeArgs, printer: Printer) -> ExitStatus {
    let as_error = |message: String| format!("error: {message}\n");
    let Some(options) = super::reported(options(args).map_err(as_error), printer) else {
        return ExitStatus::Error;
    };
    let Some(runtime) = super::reported(super::run::runtime(), printer) else {
        return ExitStatus::Error;
    };
    let outcome = runtime.block_on(async {
        let server = Server::bind(options)
            .await
            .map_err(|error| error.to_string())?;
        server.set_gemini_job_state_names(args.gemini_job_states);
        let address = server.local_address();
        if let Some(path) = &args.address_file {
            let temporary = path.with_extension("tmp");
            std::fs::write(&temporary, address.to_string())
                .and_then(|()| std::fs::rename(&temporary, path))
                .map_err(|error| format!("cannot write `{}`: {error}", path.display()))?;
        }
        printer.message(&format!(
            "batchlabel serve: listening on http://{address} (state in {})\n  openai:       base_url http://{address}/v1\n  azure_openai: azure.endpoint http://{address}\n  anthropic:    base_url http://{address}\n",
            args.state_dir.display()
        ));
        server.run().await.map_err(|error| error.to_string())
    });
    match super::reported(outcome.map_err(as_error), printer) {
        Some(()) => ExitStatus::Success,
        None => ExitStatus::Error,
    }
}
