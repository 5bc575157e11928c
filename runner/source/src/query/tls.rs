//! Connecting to PostgreSQL as its `sslmode` asks: `disable`, plain; `require` (and
//! `verify-ca` / `verify-full`, read as `require`: certificates are always verified), TLS or
//! nothing; `prefer` (the default), TLS when the server offers it and its certificate
//! verifies, else plain — as without TLS support. Certificates verify against the web's roots
//! and the PEM file `PGSSLROOTCERT` names (libpq's variable, for a private CA).

use std::sync::Arc;

use postgres::config::SslMode;
use postgres::{Client, Config, NoTls};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why a connection could not be made.
pub enum ConnectError {
    /// The client or server refused.
    Postgres(postgres::Error),
    /// The TLS settings cannot be used (`PGSSLROOTCERT` unreadable…).
    Settings(String),
}

/// Connect with `config`, TLS as its `sslmode` says.
pub fn connect(config: &Config) -> Result<Client, ConnectError> {
    if config.get_ssl_mode() == SslMode::Disable {
        return config.connect(NoTls).map_err(ConnectError::Postgres);
    }
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_config()?);
    match config.connect(tls) {
        Ok(client) => Ok(client),
        // A server whose certificate does not verify is reached as without TLS, unless TLS
        // was required; if that fails too, the TLS error is the one worth reading.
        Err(error) if config.get_ssl_mode() == SslMode::Prefer && is_tls(&error) => config
            .connect(NoTls)
            .map_err(|_| ConnectError::Postgres(error)),
        Err(error) => Err(ConnectError::Postgres(error)),
    }
}

/// Whether the failure is the TLS handshake's (not the server's answer).
pub fn is_tls(error: &postgres::Error) -> bool {
    error.as_db_error().is_none() && {
        let message = super::connection::connection_message(error).to_lowercase();
        ["tls", "certificate", "handshake", "unknownissuer"]
            .iter()
            .any(|word| message.contains(word))
    }
}

/// A connection string with libpq's `verify-ca` / `verify-full` read as `require` (the client
/// does not know those names; it verifies certificates in every TLS mode).
pub fn normalized(url: &str) -> String {
    url.replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require")
}

fn client_config() -> Result<rustls::ClientConfig, ConnectError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = std::env::var_os("PGSSLROOTCERT").filter(|path| !path.is_empty()) {
        let shown = std::path::Path::new(&path).display().to_string();
        let unreadable = |why: String| {
            ConnectError::Settings(format!(
                "cannot read the certificates in PGSSLROOTCERT `{shown}`: {why}"
            ))
        };
        let certificates = CertificateDer::pem_file_iter(&path)
            .map_err(|error| unreadable(error.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| unreadable(error.to_string()))?;
        if certificates.is_empty() {
            return Err(unreadable("no PEM certificate in it".into()));
        }
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|error| unreadable(error.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| ConnectError::Settings(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
