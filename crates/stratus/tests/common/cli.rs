//! The real python-openstackclient, from the virtualenv `scripts/test` makes (or
//! `STRATUS_OPENSTACK`); without it a test fails, never skips.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::Server;

pub fn openstack_cli() -> PathBuf {
    let path = std::env::var("STRATUS_OPENSTACK")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/stratus/venv/bin/openstack")
        });
    assert!(
        path.exists(),
        "python-openstackclient not found at {}: run scripts/test, which installs it",
        path.display()
    );
    path
}

pub struct Cli<'a> {
    server: &'a Server,
    /// Extra `--os-*` options; empty means the admin cloud of clouds.yaml.
    auth: Vec<String>,
}

impl<'a> Cli<'a> {
    pub fn admin(server: &'a Server) -> Self {
        Cli { server, auth: vec![] }
    }

    pub fn user(server: &'a Server, user: &str, password: &str, project: &str) -> Self {
        let auth = [
            "--os-auth-url",
            &server.identity(),
            "--os-username",
            user,
            "--os-password",
            password,
            "--os-project-name",
            project,
            "--os-user-domain-id",
            "default",
            "--os-project-domain-id",
            "default",
            "--os-identity-api-version",
            "3",
        ];
        Cli {
            server,
            auth: auth.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(openstack_cli());
        c.env("PYTHONWARNINGS", "ignore");
        if self.auth.is_empty() {
            c.env("OS_CLIENT_CONFIG_FILE", self.server.clouds_yaml())
                .env("OS_CLOUD", "stratus");
        } else {
            c.env_remove("OS_CLOUD").args(&self.auth);
        }
        c.args(args);
        c
    }

    /// Runs a command that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run openstack");
        assert!(
            out.status.success(),
            "openstack {args:?} failed: {}\n{}\nserver log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.server.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command with `-f json` and parses its output.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-f", "json"]);
        let out = self.ok(&a);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("openstack {args:?} printed no JSON ({e}): {out}"))
    }

    /// Shows `kind` (server, volume, ...) `id` until its status is `want`; returns it.
    pub fn wait_status(&self, kind: &str, id: &str, want: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let v = self.json(&[kind, "show", id]);
            if v["status"] == want {
                return v;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{kind} {id} did not become {want}: {v}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Runs a command that must fail; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run openstack");
        assert!(!out.status.success(), "openstack {args:?} should have failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}
