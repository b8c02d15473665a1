//! The real python-openstackclient against a fresh `stratus up`: every Identity step a user
//! takes, asserting on what the client prints. The client comes from the virtualenv that
//! `scripts/test` makes (or `STRATUS_OPENSTACK`); without it this test fails, never skips.

mod common;

use std::process::Command;

use common::cli::{openstack_cli, Cli};
use common::{Server, ADMIN_PASSWORD};
use serde_json::Value;

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|i| i[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn identity_through_the_openstack_client() {
    let server = Server::start(&[]);
    let admin = Cli::admin(&server);

    // token issue / catalog / endpoints
    let token = admin.json(&["token", "issue"]);
    let token_id = token["id"].as_str().expect("token id").to_owned();
    assert!(token_id.starts_with("gAAAAA"), "a Fernet token: {token_id}");
    assert!(token["project_id"].as_str().is_some_and(|p| p.len() == 32));
    let catalog = admin.json(&["catalog", "list"]);
    assert!(names(&catalog, "Type").contains(&"identity".to_owned()), "{catalog}");
    let endpoints = admin.json(&["endpoint", "list"]);
    let identity_urls: Vec<&str> = endpoints
        .as_array()
        .expect("a list")
        .iter()
        .filter(|e| e["Service Type"] == "identity")
        .filter_map(|e| e["URL"].as_str())
        .collect();
    assert_eq!(identity_urls.len(), 3, "public, internal and admin: {endpoints}");
    assert!(identity_urls.iter().all(|u| *u == format!("{}/identity", server.url)));
    assert!(names(&catalog, "Type").contains(&"image".to_owned()), "{catalog}");

    // domain
    let d = admin.json(&["domain", "create", "--description", "for tests", "acme"]);
    assert_eq!(d["name"], "acme");
    assert_eq!(d["enabled"], true);
    assert!(names(&admin.json(&["domain", "list"]), "Name").contains(&"acme".to_owned()));
    admin.ok(&["domain", "set", "--description", "changed", "acme"]);
    assert_eq!(admin.json(&["domain", "show", "acme"])["description"], "changed");
    admin.ok(&["domain", "set", "--disable", "acme"]);
    assert_eq!(admin.json(&["domain", "show", "acme"])["enabled"], false);
    admin.ok(&["domain", "delete", "acme"]);
    assert!(!names(&admin.json(&["domain", "list"]), "Name").contains(&"acme".to_owned()));

    // project
    let p = admin.json(&["project", "create", "--description", "demo project", "demo"]);
    assert_eq!(p["name"], "demo");
    assert_eq!(p["domain_id"], "default");
    let child = admin.json(&["project", "create", "--parent", "demo", "demo-child"]);
    assert_eq!(child["parent_id"], p["id"]);
    admin.ok(&["project", "set", "--description", "renamed", "demo"]);
    assert_eq!(admin.json(&["project", "show", "demo"])["description"], "renamed");
    assert!(names(&admin.json(&["project", "list"]), "Name").contains(&"demo-child".to_owned()));
    admin.ok(&["project", "delete", "demo-child"]);

    // user, group, role
    let u = admin.json(&[
        "user",
        "create",
        "--password",
        "alice-pw",
        "--project",
        "demo",
        "--email",
        "a@example.com",
        "alice",
    ]);
    assert_eq!(u["name"], "alice");
    assert_eq!(u["default_project_id"], p["id"]);
    admin.ok(&["user", "set", "--email", "alice@example.com", "alice"]);
    assert_eq!(admin.json(&["user", "show", "alice"])["email"], "alice@example.com");
    assert!(names(&admin.json(&["user", "list"]), "Name").contains(&"alice".to_owned()));

    let g = admin.json(&["group", "create", "--description", "ops team", "ops"]);
    assert_eq!(g["name"], "ops");
    admin.ok(&["group", "add", "user", "ops", "alice"]);
    assert!(admin
        .ok(&["group", "contains", "user", "ops", "alice"])
        .contains("alice in group ops"));
    admin.ok(&["group", "set", "--description", "operators", "ops"]);
    assert_eq!(admin.json(&["group", "show", "ops"])["description"], "operators");
    assert!(names(&admin.json(&["group", "list"]), "Name").contains(&"ops".to_owned()));

    let r = admin.json(&["role", "create", "auditor"]);
    assert_eq!(r["name"], "auditor");
    admin.ok(&["role", "set", "--description", "reads logs", "auditor"]);
    assert_eq!(admin.json(&["role", "show", "auditor"])["description"], "reads logs");
    let roles = names(&admin.json(&["role", "list"]), "Name");
    for want in ["admin", "member", "reader", "auditor"] {
        assert!(roles.contains(&want.to_owned()), "{want} in {roles:?}");
    }

    // role add, effective assignments with names
    admin.ok(&["role", "add", "--project", "demo", "--user", "alice", "member"]);
    admin.ok(&["role", "add", "--project", "demo", "--group", "ops", "auditor"]);
    let eff = admin.json(&[
        "role",
        "assignment",
        "list",
        "--effective",
        "--names",
        "--user",
        "alice",
    ]);
    let rows: Vec<(String, String)> = eff
        .as_array()
        .expect("list")
        .iter()
        .map(|a| {
            (
                a["Role"].as_str().unwrap_or("").to_owned(),
                a["Project"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for want in ["member", "reader", "auditor"] {
        assert!(
            rows.contains(&(want.to_owned(), "demo@Default".to_owned())),
            "{want} on demo in {rows:?}"
        );
    }
    assert!(
        eff.as_array()
            .expect("list")
            .iter()
            .all(|a| a["User"] == "alice@Default"),
        "{eff}"
    );

    // alice works in her project, and a member is refused an admin-only call
    let alice = Cli::user(&server, "alice", "alice-pw", "demo");
    let at = alice.json(&["token", "issue"]);
    assert_eq!(at["project_id"], p["id"]);
    let err = alice.fails(&["user", "list"]);
    assert!(err.contains("403") || err.contains("not authorized"), "{err}");

    // application credential, then authenticating with it
    let ac = alice.json(&["application", "credential", "create", "--role", "member", "ci-bot"]);
    let (ac_id, secret) = (
        ac["ID"].as_str().expect("id").to_owned(),
        ac["Secret"].as_str().expect("secret").to_owned(),
    );
    assert_eq!(names(&ac["Roles"], "name"), vec!["member".to_owned()], "{ac}");
    let mut c = Command::new(openstack_cli());
    let out = c
        .env("PYTHONWARNINGS", "ignore")
        .args([
            "--os-auth-type",
            "v3applicationcredential",
            "--os-auth-url",
            &server.identity(),
        ])
        // `=` form: a generated secret may start with '-', which argparse would take for an option.
        .arg(format!("--os-application-credential-id={ac_id}"))
        .arg(format!("--os-application-credential-secret={secret}"))
        .args(["--os-identity-api-version", "3", "token", "issue", "-f", "json"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "app cred auth: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let act: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(act["project_id"], p["id"]);
    assert_eq!(act["user_id"], u["id"]);

    // user password set: the new password works, the old one does not
    alice.ok(&[
        "user",
        "password",
        "set",
        "--original-password",
        "alice-pw",
        "--password",
        "alice-pw2",
    ]);
    Cli::user(&server, "alice", "alice-pw2", "demo").json(&["token", "issue"]);
    Cli::user(&server, "alice", "alice-pw", "demo").fails(&["token", "issue"]);

    // token revoke: the revoked token is refused afterwards
    let t = admin.json(&["token", "issue"]);
    let tid = t["id"].as_str().expect("id");
    admin.ok(&["token", "revoke", tid]);
    let out = Command::new(openstack_cli())
        .env("PYTHONWARNINGS", "ignore")
        .args([
            "--os-auth-type",
            "token",
            "--os-auth-url",
            &server.identity(),
            "--os-token",
            tid,
        ])
        .args([
            "--os-project-name",
            "admin",
            "--os-project-domain-id",
            "default",
            "--os-identity-api-version",
            "3",
        ])
        .args(["project", "list"])
        .output()
        .expect("run");
    assert!(!out.status.success(), "a revoked token must be refused");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // deletes
    admin.ok(&["role", "remove", "--project", "demo", "--group", "ops", "auditor"]);
    admin.ok(&["group", "remove", "user", "ops", "alice"]);
    admin.ok(&["group", "delete", "ops"]);
    admin.ok(&["role", "delete", "auditor"]);
    admin.ok(&["user", "delete", "alice"]);
    admin.ok(&["project", "delete", "demo"]);
    assert!(!names(&admin.json(&["user", "list"]), "Name").contains(&"alice".to_owned()));
    assert!(!names(&admin.json(&["project", "list"]), "Name").contains(&"demo".to_owned()));
    assert!(admin
        .fails(&["role", "show", "auditor"])
        .contains("No Role found for auditor"));
    let _ = ADMIN_PASSWORD;
}

#[test]
fn restart_keeps_everything_and_bootstraps_nothing_twice() {
    let server = Server::start(&[]);
    let admin = Cli::admin(&server);
    admin.json(&["project", "create", "kept"]);
    let before = admin.json(&["endpoint", "list"]);
    let dir = server.stop();
    let server = Server::start_in(dir, &[]);
    let admin = Cli::admin(&server);
    assert!(names(&admin.json(&["project", "list"]), "Name").contains(&"kept".to_owned()));
    let after = admin.json(&["endpoint", "list"]);
    assert_eq!(
        after.as_array().map(Vec::len),
        before.as_array().map(Vec::len),
        "no duplicate endpoints"
    );
    let users = names(&admin.json(&["user", "list"]), "Name");
    assert_eq!(users.iter().filter(|u| *u == "admin").count(), 1);
    let roles = names(&admin.json(&["role", "list"]), "Name");
    assert_eq!(roles.iter().filter(|r| *r == "admin").count(), 1);
}
