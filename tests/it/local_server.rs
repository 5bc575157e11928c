//! A real `batchlabel serve` on 127.0.0.1 for the tests: started on a free port, stopped
//! when dropped, with its own counters read over plain HTTP.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct LocalServer {
    child: Child,
    pub(crate) address: String,
    pub(crate) state_dir: PathBuf,
}

impl LocalServer {
    /// Start `batchlabel serve` with extra flags, its state under `directory`.
    pub(crate) fn start(directory: &Path, flags: &[&str]) -> Self {
        Self::start_with_env(directory, flags, &[])
    }

    pub(crate) fn start_with_env(directory: &Path, flags: &[&str], env: &[(&str, &str)]) -> Self {
        let state_dir = directory.join("serve-state");
        let address_file = directory.join(format!("serve-address-{}", rand_suffix()));
        let mut command = Command::new(env!("CARGO_BIN_EXE_batchlabel"));
        command
            .args(["serve", "--port", "0", "--state-dir"])
            .arg(&state_dir)
            .arg("--address-file")
            .arg(&address_file)
            .args(flags)
            .current_dir(directory)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("start batchlabel serve");
        let started = Instant::now();
        let address = loop {
            if let Ok(address) = std::fs::read_to_string(&address_file) {
                break address;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "serve did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Self {
            child,
            address,
            state_dir,
        }
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    /// `GET path` over a plain socket; returns the body.
    pub(crate) fn get(&self, path: &str) -> String {
        let mut stream = std::net::TcpStream::connect(&self.address).expect("connect to serve");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.address
        )
        .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default()
    }

    /// The contents of every file the server still stores for `purpose` (`batch` for uploaded
    /// inputs, `batch_output` / `batch_error` for results), oldest first. Only a job with
    /// `batch.remote_cleanup: false` leaves them there once it has ended.
    pub(crate) fn stored_files(&self, purpose: &str) -> Vec<String> {
        let folder = self.state_dir.join("files");
        let mut objects: Vec<serde_json::Value> = crate::files_with_extension(&folder, "json")
            .iter()
            .map(|path| serde_json::from_slice(&std::fs::read(path).expect("file object")).unwrap())
            .filter(|object: &serde_json::Value| object["purpose"] == purpose)
            .collect();
        objects.sort_by_key(|object| object["id"].as_str().unwrap_or_default().to_string());
        objects
            .iter()
            .map(|object| {
                let id = object["id"].as_str().expect("file id");
                std::fs::read_to_string(folder.join(format!("{id}.jsonl"))).unwrap_or_default()
            })
            .collect()
    }

    /// The server's own counters.
    pub(crate) fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/v1/_batchlabel/stats")).expect("stats JSON")
    }

    /// The server's own counters, from a server that requires `key`.
    pub(crate) fn stats_with_key(&self, key: &str) -> serde_json::Value {
        let mut stream = std::net::TcpStream::connect(&self.address).expect("connect to serve");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            stream,
            "GET /v1/_batchlabel/stats HTTP/1.0\r\nHost: {}\r\nAuthorization: Bearer {key}\r\n\r\n",
            self.address
        )
        .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body)
            .unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|_| panic!("stats JSON: {response}"))
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos())
}
