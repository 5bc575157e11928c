//! A real, throwaway PostgreSQL server for the database source/sink tests: `initdb` into a
//! temporary folder, `pg_ctl start` on a free 127.0.0.1 port, stopped and removed on drop.

use std::hash::{BuildHasher, RandomState};
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

/// PostgreSQL refuses to run as root; under root (CI) the cluster runs as this system user.
const SYSTEM_USER: &str = "batchlabel-pg";
const SUPERUSER: &str = "batchlabel";
const FIX: &str = "bash scripts/prerequisites.sh --with-postgres";
const START_ATTEMPTS: u32 = 5;
/// Quiet, unaligned, tuples only, stop at the first error, SQL from stdin.
const PSQL_FLAGS: &str = "-X -q -t -A -v ON_ERROR_STOP=1 -f -";
/// --no-sync: a throwaway cluster need not survive a crash.
const INITDB_FLAGS: &str = "--auth=scram-sha-256 -E UTF8 --locale=C --no-sync";

/// A PostgreSQL cluster in a temporary folder on a free 127.0.0.1 port, stopped and removed on drop.
pub struct PostgresServer {
    dir: TempDir,
    initdb: PathBuf,
    pg_ctl: PathBuf,
    psql: PathBuf,
    as_system_user: bool,
    port: u16,
    password: String,
    /// TLS only (`hostssl`), with a certificate signed by a test CA.
    tls: bool,
}

impl PostgresServer {
    /// Start one (initdb + pg_ctl start -w). Panics with a clear message naming the fix
    /// (`bash scripts/prerequisites.sh --with-postgres`) when PostgreSQL's binaries are not installed — tests
    /// never skip silently.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// One that accepts only TLS connections (`hostssl`), its certificate for `127.0.0.1`
    /// signed by a throwaway CA; returns the CA certificate's PEM file too.
    pub fn start_tls() -> (Self, PathBuf) {
        let server = Self::start_with(true);
        let ca = server.dir.path().join("ca.crt");
        (server, ca)
    }

    fn start_with(tls: bool) -> Self {
        let (initdb, pg_ctl, psql) = (binary("initdb"), binary("pg_ctl"), binary("psql"));
        let as_system_user = is_root();
        if as_system_user {
            ensure_system_user();
        }
        let dir = tempfile::Builder::new()
            .prefix("batchlabel-pg-")
            .tempdir()
            .expect("create a temporary folder for PostgreSQL");
        if as_system_user {
            // The system user must reach its folder through every parent.
            let closed = dir.path().ancestors().skip(1).find(|parent| {
                std::fs::metadata(parent).map_or(0, |m| m.permissions().mode()) & 0o001 == 0
            });
            if let Some(closed) = closed {
                panic!(
                    "{} is closed to {SYSTEM_USER}: set TMPDIR=/tmp",
                    closed.display()
                );
            }
            let mut chown = Command::new("chown");
            chown.arg(format!("{SYSTEM_USER}:")).arg(dir.path());
            let chown = output(&mut chown, "chown");
            assert!(chown.status.success(), "chown {SYSTEM_USER}: failed");
        }
        // Built before initdb so that any panic below still stops and removes the cluster.
        let password = random_password();
        let mut server = Self {
            dir,
            initdb,
            pg_ctl,
            psql,
            as_system_user,
            port: 0,
            password,
            tls,
        };
        server.init_cluster();
        if tls {
            server.make_tls();
        }
        let mut attempt = 1;
        loop {
            server.port = free_port();
            match server.pg_ctl_start() {
                Ok(()) => return server,
                // Another process took the port between our probe and the server's bind.
                Err(log) if attempt < START_ATTEMPTS && log.contains("Address already in use") => {
                    attempt += 1;
                }
                Err(log) => {
                    panic!("PostgreSQL did not start (attempt {attempt}); log tail:\n{log}")
                }
            }
        }
    }

    /// `postgres://batchlabel:<password>@127.0.0.1:<port>/postgres` (password authentication,
    /// scram-sha-256).
    pub fn url(&self) -> String {
        self.url_with_password(&self.password)
    }

    /// The same URL with another password (for wrong-password tests), put in as is: keep
    /// to URL-safe characters.
    pub fn url_with_password(&self, password: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{password}@127.0.0.1:{}/postgres",
            self.port
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// Run SQL through `psql` (ON_ERROR_STOP, -X, -q, -t -A output) as the superuser; panic
    /// with psql's stderr on failure; return stdout.
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|stderr| panic!("psql failed: {stderr}"))
    }

    /// Like `sql` but return Err(stderr) instead of panicking.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        let url = format!("postgres://{SUPERUSER}@127.0.0.1:{}/postgres", self.port);
        self.psql(&url, sql)
    }

    /// psql on `url`, the password in PGPASSWORD (not on a command line `ps` shows) unless
    /// the URL carries one.
    fn psql(&self, url: &str, sql: &str) -> Result<String, String> {
        let mut child = Command::new(&self.psql)
            .args(PSQL_FLAGS.split(' '))
            .args(["-d", url])
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run psql ({e}); install PostgreSQL with `{FIX}`"));
        // psql may exit before reading (refused connection): its exit status tells, not EPIPE.
        let _ = child.stdin.take().expect("piped").write_all(sql.as_bytes());
        let output = child.wait_with_output().expect("wait for psql");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(self.redact(&String::from_utf8_lossy(&output.stderr)))
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A server binary, run as the system user under root, from inside the cluster's folder
    /// (that user may not enter root's working directory).
    fn server_command(&self, path: &Path) -> Command {
        let mut command = if self.as_system_user {
            let mut command = Command::new("runuser");
            command.args(["-u", SYSTEM_USER, "--"]).arg(path);
            command
        } else {
            Command::new(path)
        };
        command.current_dir(self.dir.path());
        command
    }

    fn init_cluster(&self) {
        let pwfile = self.dir.path().join("pwfile");
        std::fs::write(&pwfile, &self.password).expect("write the password file");
        let mut initdb = self.server_command(&self.initdb);
        initdb
            .arg("-D")
            .arg(self.data())
            .args(["-U", SUPERUSER])
            .args(INITDB_FLAGS.split(' '));
        let initdb = output(
            initdb.arg(format!("--pwfile={}", pwfile.display())),
            "initdb",
        );
        let _ = std::fs::remove_file(&pwfile);
        let stderr = self.redact(&String::from_utf8_lossy(&initdb.stderr));
        assert!(initdb.status.success(), "initdb failed:\n{stderr}");
    }

    /// Err holds pg_ctl's stderr and the log's tail.
    fn pg_ctl_start(&self) -> Result<(), String> {
        let log = self.dir.path().join("postgres.log");
        let _ = std::fs::remove_file(&log); // so the tail is this attempt's
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c full_page_writes=off \
             -c synchronous_commit=off -c max_connections=50{}",
            self.port,
            self.dir.path().display(),
            if self.tls { " -c ssl=on" } else { "" }
        );
        let mut start = self.server_command(&self.pg_ctl);
        start
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(self.data());
        let start = output(start.arg("-l").arg(&log).args(["-o", &options]), "pg_ctl");
        if start.status.success() {
            return Ok(());
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        Err(self.redact(&format!(
            "{}\n{tail}",
            String::from_utf8_lossy(&start.stderr)
        )))
    }

    /// A CA, a server certificate for 127.0.0.1 it signs (in the data folder, where the
    /// server looks), and a `pg_hba.conf` that accepts only TLS.
    fn make_tls(&self) {
        let folder = self.dir.path();
        let data = self.data();
        std::fs::write(
            folder.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .expect("write the certificate extensions");
        for arguments in [
            "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=batchlabel-test-ca -keyout ca.key -out ca.crt",
            "req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr",
            "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.crt",
        ] {
            let mut openssl = Command::new("openssl");
            openssl.args(arguments.split(' ')).current_dir(folder);
            let made = output(&mut openssl, "openssl (to make test certificates)");
            assert!(
                made.status.success(),
                "openssl {arguments} failed: {}",
                String::from_utf8_lossy(&made.stderr)
            );
        }
        for name in ["server.crt", "server.key"] {
            std::fs::copy(folder.join(name), data.join(name)).expect("copy the certificate");
        }
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("key permissions");
        if self.as_system_user {
            let mut chown = Command::new("chown");
            chown
                .arg(format!("{SYSTEM_USER}:"))
                .arg(data.join("server.crt"))
                .arg(data.join("server.key"));
            assert!(output(&mut chown, "chown").status.success(), "chown failed");
        }
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
        )
        .expect("write pg_hba.conf");
    }

    fn redact(&self, text: &str) -> String {
        text.replace(&self.password, "<password>")
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // Immediate: nothing to keep; -t bounds the wait. The TempDir then removes the folder.
        let _ = self
            .server_command(&self.pg_ctl)
            .args(["stop", "-m", "immediate", "-w", "-t", "20", "-D"])
            .arg(self.data())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A PostgreSQL binary: PATH first, else the newest /usr/lib/postgresql/<version>/bin
/// (Debian keeps server binaries out of PATH).
fn binary(name: &str) -> PathBuf {
    let versioned =
        |version: u32| PathBuf::from(format!("/usr/lib/postgresql/{version}/bin/{name}"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let in_path = std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    let found = in_path.or_else(|| {
        let versions = std::fs::read_dir("/usr/lib/postgresql").ok()?.flatten();
        let versions = versions.filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok());
        versions
            .filter(|v| versioned(*v).is_file())
            .max()
            .map(versioned)
    });
    let missing =
        format!("PostgreSQL is not installed (no {name} in PATH nor /usr/lib/postgresql/*/bin)");
    found.unwrap_or_else(|| panic!("{missing}: install it with `{FIX}`"))
}

/// Run to the end; not starting at all means PostgreSQL (or a system tool) is missing.
fn output(command: &mut Command, what: &str) -> Output {
    let result = command.stdin(Stdio::null()).output();
    result.unwrap_or_else(|e| panic!("run {what} ({e}); install PostgreSQL with `{FIX}`"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Create the system user once per process; parallel test processes race on /etc/passwd's
/// lock, so retry until it exists (useradd's exit 9: it already does).
fn ensure_system_user() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        for _ in 0..50 {
            let exists = Command::new("id").arg(SYSTEM_USER).output();
            if exists.is_ok_and(|o| o.status.success()) {
                return;
            }
            let status = Command::new("useradd")
                .args(["--system", "--no-create-home", SYSTEM_USER])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if status.is_ok_and(|s| matches!(s.code(), Some(0 | 9))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("could not create the system user {SYSTEM_USER} (useradd) to run PostgreSQL as");
    });
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0 to find a free port")
        .port()
}

/// 32 hex digits from std's randomly keyed SipHash: a test password needs no crypto crate.
fn random_password() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let state = RandomState::new();
    let half = |i: u8| state.hash_one((now, std::process::id(), i));
    format!("{:016x}{:016x}", half(0), half(1))
}

#[cfg(test)]
mod tests {
    use super::PostgresServer;

    #[test]
    fn serves_sql_refuses_a_wrong_password_and_is_removed_on_drop() {
        let server = PostgresServer::start();
        let folder = server.dir.path().to_path_buf();
        assert!(folder.join("data").is_dir());
        server.sql("create table labels (id int primary key, label text);");
        server.sql("insert into labels values (1, 'positive'), (2, 'negative');");
        let rows = server.sql("select id, label from labels order by id");
        assert_eq!(rows, "1|positive\n2|negative\n");
        let (password, port) = (server.password(), server.port());
        assert_eq!(
            server.url(),
            format!("postgres://batchlabel:{password}@127.0.0.1:{port}/postgres")
        );
        assert_eq!(server.psql(&server.url(), "select 1").as_deref(), Ok("1\n"));

        let wrong = server
            .psql(&server.url_with_password("wrong"), "select 1")
            .unwrap_err();
        assert!(wrong.contains("password authentication failed"), "{wrong}");
        let error = server.try_sql("select * from missing").unwrap_err();
        assert!(error.contains("does not exist"), "{error}");

        drop(server);
        assert!(!folder.exists(), "{} was left behind", folder.display());
    }
}
