//! Q4_1 → Q8_0, once: the default model ships as Q4_1, which has no repacked AVX2 kernels;
//! as Q8_0 it labels ~1.5× faster at the same accuracy (local-engine.md §4). The safe binding
//! does not wrap `llama_model_quantize`, so this is the crate's one `unsafe` call.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use crate::EngineError;

/// The Q8_0 file beside a `…Q4_1.gguf`, made on first use; other files are used as they are.
pub(crate) fn faster_copy(path: &Path, threads: u32) -> Result<PathBuf, EngineError> {
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return Ok(path.to_path_buf());
    };
    let Some(stem) = name.strip_suffix("Q4_1.gguf") else {
        return Ok(path.to_path_buf());
    };
    let target = path.with_file_name(format!("{stem}Q8_0.gguf"));
    if target.is_file() {
        return Ok(target);
    }
    crate::session::backend()?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    // A unique temporary name: two processes converting at once each rename a whole file.
    let temporary = path.with_file_name(format!(".{stem}Q8_0.{}.{nanos}.part", std::process::id()));
    let text = |path: &Path| {
        path.to_str()
            .and_then(|text| CString::new(text).ok())
            .ok_or_else(|| EngineError::Inference(format!("unusable path `{}`", path.display())))
    };
    let (input, output) = (text(path)?, text(&temporary)?);
    #[allow(
        unsafe_code,
        reason = "llama_model_quantize has no safe wrapper; both paths are valid C strings that outlive the call"
    )]
    let status = unsafe {
        let mut parameters = llama_cpp_sys_2::llama_model_quantize_default_params();
        parameters.ftype = llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q8_0;
        parameters.allow_requantize = true;
        parameters.nthread = threads.max(1) as i32;
        llama_cpp_sys_2::llama_model_quantize(
            input.as_ptr(),
            output.as_ptr(),
            &raw const parameters,
        )
    };
    if status != 0 {
        let _ = std::fs::remove_file(&temporary);
        return Err(EngineError::CorruptModel {
            path: path.to_path_buf(),
            reason: format!("converting it to Q8_0 failed (llama.cpp status {status})"),
        });
    }
    std::fs::rename(&temporary, &target).map_err(|error| {
        EngineError::Inference(format!("cannot write `{}`: {error}", target.display()))
    })?;
    Ok(target)
}
