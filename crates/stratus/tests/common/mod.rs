//! A real `stratus up` for a test: its own data directory and port, stopped when dropped.

#![allow(dead_code)]

pub mod cli;
pub mod http;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN_PASSWORD: &str = "test-admin-secret";

pub struct Server {
    pub url: String,
    pub dir: tempfile::TempDir,
    child: Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub const SERVICE_PASSWORD: &str = "compute-service-test-password";

/// The in-memory dataplane and the fake hypervisor, unless `extra` chooses.
fn defaults(extra: &[&str]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for (flag, value) in [("--network-dataplane", "memory"), ("--compute-driver", "fake")] {
        if !extra.contains(&flag) {
            out.extend([flag, value]);
        }
    }
    out
}

/// The store a full-stack test runs the cloud on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Sqlite,
    Postgres,
}

impl Server {
    /// `stratus up` on `store`: SQLite files in its data directory, or a PostgreSQL database
    /// of its own on the test server (`STRATUS_TEST_POSTGRES`); drop that with
    /// `TestLocation::cleanup` when the test ends.
    pub async fn start_on(store: Store, extra: &[&str]) -> (Server, stratus_store::testing::TestLocation) {
        use stratus_store::{testing::TestLocation, Backend, Location};
        let loc = TestLocation::new(match store {
            Store::Sqlite => Backend::Sqlite,
            Store::Postgres => Backend::Postgres,
        })
        .await;
        let mut args: Vec<String> = Vec::new();
        if let Location::Postgres(url) = &loc.location {
            args.extend(["--database".to_owned(), url.clone()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = tokio::task::block_in_place(|| Server::start(&args));
        (server, loc)
    }

    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, extra)
    }

    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        Self::start_command(dir, "up", extra)
    }

    /// `stratus serve` with the API role (and whatever `extra` adds).
    pub fn start_serve(extra: &[&str]) -> Server {
        Self::start_command(tempfile::tempdir().expect("tempdir"), "serve", extra)
    }

    fn start_command(dir: tempfile::TempDir, command: &str, extra: &[&str]) -> Server {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_stratus"))
            .args([command, "--data-dir"])
            .arg(dir.path().join("data"))
            .args([
                "--bind",
                &bind,
                "--password-hash-rounds",
                "4",
                "--admin-password",
                ADMIN_PASSWORD,
            ])
            // Test servers are killed, not stopped; kernel objects and guests they made would
            // outlive them. Tests of real guests ask for them.
            .args(defaults(extra))
            // Processes of one distributed cloud share the compute service user's password.
            .args(if command == "serve" {
                &["--service-password", SERVICE_PASSWORD][..]
            } else {
                &[]
            })
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start stratus");
        let server = Server {
            url: format!("http://{bind}"),
            dir,
            child,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(self.url.trim_start_matches("http://")).is_ok()
                && self.clouds_yaml().exists()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("stratus did not start; log:\n{}", self.log());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's peak resident memory so far, in KiB (VmHWM).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn image(&self) -> String {
        format!("{}/image/v2", self.url)
    }

    pub fn identity(&self) -> String {
        format!("{}/identity/v3", self.url)
    }

    pub fn clouds_yaml(&self) -> PathBuf {
        self.dir.path().join("data/clouds.yaml")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Kills the server with SIGKILL, as a crash would; its data directory is kept.
    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }

    /// Stops the server with SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "stratus exited with {status}; log:\n{}", self.log());
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of a password authentication scoped to a project, both by name in Default.
pub fn password_auth(user: &str, password: &str, project: Option<&str>) -> serde_json::Value {
    let mut body = serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}}}});
    if let Some(p) = project {
        body["auth"]["scope"] = serde_json::json!({"project": {"name": p, "domain": {"id": "default"}}});
    }
    body
}

/// A `stratus serve` process without the API role (conductor, scheduler or compute agents),
/// killed when dropped.
pub struct Role {
    child: Child,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Role {
    pub fn start(args: &[&str]) -> Role {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("role.log");
        let child = Command::new(env!("CARGO_BIN_EXE_stratus"))
            .arg("serve")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--service-password", SERVICE_PASSWORD])
            .args(defaults(args))
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start a stratus role");
        Role { child, log, _dir: dir }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
