//! Downloading a file's content: streamed to a `.part` file, retried when the transfer
//! breaks or comes up short, renamed into place only when complete.

use std::path::Path;

use futures_util::StreamExt;

use super::Transport;
use super::errors::{api_error, describe};
use crate::{ProviderError, RetryPolicy};

impl Transport {
    /// Download `url` to `destination` through a `.part` file, retrying broken transfers;
    /// errors redacted.
    pub(crate) async fn download(
        &self,
        url: &str,
        destination: &Path,
    ) -> Result<u64, ProviderError> {
        self.download_raw(url, destination)
            .await
            .map_err(|error| self.redact(error))
    }

    async fn download_raw(&self, url: &str, destination: &Path) -> Result<u64, ProviderError> {
        let temporary = destination.with_extension("part");
        let io_error = |source| ProviderError::Io {
            path: temporary.clone(),
            source,
        };
        let mut attempt = 0;
        loop {
            let response = match self.authorize(self.http.get(url)).send().await {
                Ok(response) => response,
                Err(error) => match self.retry_delay(attempt, None) {
                    Some(delay) => {
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                        continue;
                    }
                    None => return Err(self.unreachable("download", &error)),
                },
            };
            let status = response.status().as_u16();
            if !(200..300).contains(&status) {
                let headers = response.headers().clone();
                let text = response.text().await.unwrap_or_default();
                if RetryPolicy::should_retry(status, &headers, &text)
                    && let Some(delay) = self.retry_delay(attempt, Some(&headers))
                {
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    continue;
                }
                return Err(api_error("download", status, &text, self.secrets()));
            }
            let expected = response.content_length();
            // Buffered plain writes: a blocking-pool hop per chunk would slow large files.
            let mut file = std::io::BufWriter::with_capacity(
                1 << 20,
                std::fs::File::create(&temporary).map_err(io_error)?,
            );
            let mut stream = response.bytes_stream();
            let mut written = 0u64;
            let mut broken = None;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(chunk) => {
                        written += chunk.len() as u64;
                        std::io::Write::write_all(&mut file, &chunk).map_err(io_error)?;
                    }
                    Err(error) => {
                        broken = Some(error);
                        break;
                    }
                }
            }
            let short = expected.is_some_and(|expected| expected != written);
            if broken.is_some() || short {
                drop(file);
                let _ = tokio::fs::remove_file(&temporary).await;
                match self.retry_delay(attempt, None) {
                    Some(delay) => {
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                        continue;
                    }
                    None => {
                        return Err(ProviderError::Unreachable {
                            operation: "download".into(),
                            base_url: self.display_url().to_string(),
                            message: broken.map_or_else(
                                || format!("got {written} of {expected:?} bytes"),
                                |error| describe(&error),
                            ),
                        });
                    }
                }
            }
            // Flushed, not synced: a killed process loses nothing; the ledger records the file
            // only after this rename.
            std::io::Write::flush(&mut file).map_err(io_error)?;
            drop(file);
            tokio::fs::rename(&temporary, destination)
                .await
                .map_err(|source| ProviderError::Io {
                    path: destination.to_path_buf(),
                    source,
                })?;
            return Ok(written);
        }
    }
}
