//! Acting for a user without their password, through the real clients against a fresh
//! `stratus up`: a trust used for a token (python-openstackclient), an EC2 credential whose
//! signed request becomes a token (signed by keystoneclient's own EC2 signer), an OAuth1
//! consumer's access token used for a token (python-openstackclient's OAuth1 plugin), an
//! application credential limited by access rules, and an inherited role that reaches a
//! project made later under its target.

mod common;

use std::process::Command;

use common::cli::{openstack_cli, Cli};
use common::Server;
use serde_json::Value;

/// Runs `openstack` with explicit `--os-*` options (no clouds.yaml); returns its JSON.
fn osc_json(server: &Server, auth: &[&str], args: &[&str]) -> Value {
    let out = Command::new(openstack_cli())
        .env("PYTHONWARNINGS", "ignore")
        .env_remove("OS_CLOUD")
        .args(["--os-auth-url", &server.identity(), "--os-identity-api-version", "3"])
        .args(auth)
        .args(args)
        .args(["-f", "json"])
        .output()
        .expect("run openstack");
    assert!(
        out.status.success(),
        "openstack {args:?} failed: {}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    serde_json::from_slice(&out.stdout).expect("JSON from openstack")
}

/// The Python of the client's virtualenv, beside its `openstack`.
fn venv_python() -> std::path::PathBuf {
    openstack_cli().with_file_name("python")
}

#[test]
fn trusts_ec2_credentials_oauth1_and_inherited_roles_through_the_clients() {
    let server = Server::start(&[]);
    let admin = Cli::admin(&server);
    let admin_user = admin.json(&["user", "show", "admin"]);
    let admin_project = admin.json(&["project", "show", "admin"]);
    let admin_project_id = admin_project["id"].as_str().expect("project id").to_owned();

    // ---------------------------------------------------------------- a trust
    let trustee = admin.json(&["user", "create", "--password", "trustee-pw", "trustee"]);
    let trust = admin.json(&[
        "trust",
        "create",
        "--project",
        "admin",
        "--role",
        "member",
        "--impersonate",
        admin_user["id"].as_str().unwrap(),
        trustee["id"].as_str().unwrap(),
    ]);
    let trust_id = trust["id"].as_str().expect("trust id").to_owned();
    assert_eq!(trust["is_impersonation"], true, "{trust}");
    let trustee_auth = [
        "--os-username",
        "trustee",
        "--os-password",
        "trustee-pw",
        "--os-user-domain-id",
        "default",
        "--os-trust-id",
        trust_id.as_str(),
    ];
    let token = osc_json(&server, &trustee_auth, &["token", "issue"]);
    assert_eq!(token["project_id"], admin_project_id.as_str(), "the trust's project: {token}");
    assert_eq!(token["user_id"], admin_user["id"], "impersonation acts as the trustor: {token}");
    // The trust-scoped token works against another service, with the delegated role.
    let servers = osc_json(&server, &trustee_auth, &["server", "list"]);
    assert!(servers.as_array().is_some(), "{servers}");
    assert!(admin.json(&["trust", "list"]).to_string().contains(&trust_id));
    admin.ok(&["trust", "delete", &trust_id]);
    let refused = Command::new(openstack_cli())
        .env("PYTHONWARNINGS", "ignore")
        .env_remove("OS_CLOUD")
        .args(["--os-auth-url", &server.identity(), "--os-identity-api-version", "3"])
        .args(trustee_auth)
        .args(["token", "issue"])
        .output()
        .expect("run openstack");
    assert!(!refused.status.success(), "a deleted trust gives no token");

    // ---------------------------------------------------------------- EC2
    let ec2 = admin.json(&["ec2", "credentials", "create", "--project", "admin", "--user", "admin"]);
    let access = ec2["access"].as_str().expect("access").to_owned();
    let secret = ec2["secret"].as_str().expect("secret").to_owned();
    assert!(admin.json(&["ec2", "credentials", "list"]).to_string().contains(&access));
    // keystoneclient's signer signs the request an EC2 front end received (versions 2 and
    // 4); /v3/ec2tokens turns each into a token of the credential's user and project.
    let script = r#"
import json, sys, datetime, hashlib, requests
from keystoneclient.contrib.ec2.utils import Ec2Signer
url, access, secret = sys.argv[1:4]
now = datetime.datetime.now(datetime.timezone.utc)
v2 = {'host': 'ec2.example.com:8773', 'verb': 'GET', 'path': '/', 'headers': {}, 'body_hash': '',
      'params': {'Action': 'DescribeInstances', 'SignatureVersion': '2', 'SignatureMethod': 'HmacSHA256',
                 'AWSAccessKeyId': access, 'Timestamp': now.strftime('%Y-%m-%dT%H:%M:%SZ')}}
amz = now.strftime('%Y%m%dT%H%M%SZ')
body_hash = hashlib.sha256(b'').hexdigest()
v4 = {'host': 'ec2.example.com', 'verb': 'GET', 'path': '/', 'body_hash': body_hash,
      'params': {'Action': 'DescribeInstances'},
      'headers': {'Host': 'ec2.example.com', 'X-Amz-Date': amz,
                  'Authorization': 'AWS4-HMAC-SHA256 Credential=%s/%s/RegionOne/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=x' % (access, amz[:8])}}
out = []
for cred in (v2, v4):
    cred['access'] = access
    cred['signature'] = Ec2Signer(secret).generate(cred)
    r = requests.post(url + '/ec2tokens', json={'credentials': cred})
    out.append({'status': r.status_code, 'token': r.headers.get('X-Subject-Token'), 'body': r.json()})
cred = dict(v2, signature='wrong')
r = requests.post(url + '/ec2tokens', json={'credentials': cred})
out.append({'status': r.status_code})
print(json.dumps(out))
"#;
    let out = Command::new(venv_python())
        .args(["-c", script, &server.identity(), &access, &secret])
        .output()
        .expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for r in &results.as_array().unwrap()[..2] {
        assert_eq!(r["status"], 200, "{r}\n{}", server.log());
        let t = &r["body"]["token"];
        assert_eq!(t["methods"], serde_json::json!(["ec2credential"]));
        assert_eq!(t["project"]["id"], admin_project_id.as_str());
        assert_eq!(t["user"]["id"], admin_user["id"]);
        assert!(r["token"].as_str().is_some_and(|t| t.starts_with("gAAAAA")));
    }
    assert_eq!(results[2]["status"], 401, "a wrong signature: {results}");

    // ---------------------------------------------------------------- OAuth1
    let consumer = admin.json(&["consumer", "create", "--description", "a reporting tool"]);
    let (ck, cs) = (
        consumer["id"].as_str().expect("consumer id").to_owned(),
        consumer["secret"].as_str().expect("consumer secret").to_owned(),
    );
    let request = admin.json(&[
        "request", "token", "create", "--consumer-key", &ck, "--consumer-secret", &cs, "--project", &admin_project_id,
    ]);
    let (rk, rs) = (
        request["oauth_token"].as_str().or(request["id"].as_str()).expect("request key").to_owned(),
        request["oauth_token_secret"].as_str().or(request["secret"].as_str()).expect("request secret").to_owned(),
    );
    let authorized = admin.json(&["request", "token", "authorize", "--request-key", &rk, "--role", "reader"]);
    let verifier = authorized["oauth_verifier"].as_str().expect("verifier").to_owned();
    assert_eq!(verifier.len(), 8);
    let access_token = admin.json(&[
        "access", "token", "create", "--consumer-key", &ck, "--consumer-secret", &cs, "--request-key", &rk,
        "--request-secret", &rs, "--verifier", &verifier,
    ]);
    let (ak, as_) = (
        access_token["oauth_token"].as_str().or(access_token["id"].as_str()).expect("access key").to_owned(),
        access_token["oauth_token_secret"].as_str().or(access_token["secret"].as_str()).expect("access secret").to_owned(),
    );
    let token = osc_json(
        &server,
        &[
            "--os-auth-type",
            "v3oauth1",
            "--os-consumer-key",
            &ck,
            "--os-consumer-secret",
            &cs,
            "--os-access-key",
            &ak,
            "--os-access-secret",
            &as_,
        ],
        &["token", "issue"],
    );
    assert_eq!(token["project_id"], admin_project_id.as_str(), "{token}");
    assert_eq!(token["user_id"], admin_user["id"], "{token}");
    // A forged access secret gives nothing.
    let forged = Command::new(openstack_cli())
        .env("PYTHONWARNINGS", "ignore")
        .env_remove("OS_CLOUD")
        .args(["--os-auth-url", &server.identity(), "--os-identity-api-version", "3"])
        .args(["--os-auth-type", "v3oauth1", "--os-consumer-key", &ck, "--os-consumer-secret", &cs])
        .args(["--os-access-key", &ak, "--os-access-secret", "not-the-secret", "token", "issue"])
        .output()
        .expect("run openstack");
    assert!(!forged.status.success(), "a wrong access secret gives no token");

    // ---------------------------------------------------------------- access rules
    let cred = admin.json(&[
        "application",
        "credential",
        "create",
        "--secret",
        "rule-secret",
        "--access-rules",
        r#"[{"service": "compute", "method": "GET", "path": "/v2.1/servers/**"}, {"service": "compute", "method": "GET", "path": "/v2.1/servers"}]"#,
        "limited",
    ]);
    let cred_id = cred["ID"].as_str().expect("credential id").to_owned();
    assert_eq!(cred["Access Rules"].as_array().map(Vec::len), Some(2), "{cred}");
    let limited = [
        "--os-auth-type",
        "v3applicationcredential",
        "--os-application-credential-id",
        cred_id.as_str(),
        "--os-application-credential-secret",
        "rule-secret",
    ];
    assert!(osc_json(&server, &limited, &["server", "list"]).as_array().is_some());
    let image_list = Command::new(openstack_cli())
        .env("PYTHONWARNINGS", "ignore")
        .env_remove("OS_CLOUD")
        .args(["--os-auth-url", &server.identity(), "--os-identity-api-version", "3"])
        .args(limited)
        .args(["image", "list"])
        .output()
        .expect("run openstack");
    assert!(!image_list.status.success(), "the rules allow no image request");
    // A rule outlives its credential, and is deleted only when no credential uses it.
    let rules = admin.json(&["access", "rule", "list"]);
    assert_eq!(rules.as_array().map(Vec::len), Some(2), "{rules}");
    admin.ok(&["application", "credential", "delete", "limited"]);
    let rule_id = rules[0]["ID"].as_str().expect("rule id").to_owned();
    admin.ok(&["access", "rule", "delete", &rule_id]);
    assert_eq!(admin.json(&["access", "rule", "list"]).as_array().map(Vec::len), Some(1));

    // ---------------------------------------------------------------- inherited roles
    admin.ok(&["project", "create", "parent"]);
    admin.ok(&["user", "create", "--password", "heir-pw", "heir"]);
    admin.ok(&["role", "add", "--project", "parent", "--user", "heir", "--inherited", "member"]);
    // A project made after the grant, under its target, inherits it.
    admin.ok(&["project", "create", "--parent", "parent", "child"]);
    let heir = Cli::user(&server, "heir", "heir-pw", "child");
    let token = heir.json(&["token", "issue"]);
    assert_eq!(token["project_id"], admin.json(&["project", "show", "child"])["id"]);
    let eff = admin.json(&["role", "assignment", "list", "--effective", "--names", "--user", "heir"]);
    let projects: Vec<&str> = eff.as_array().unwrap().iter().filter_map(|a| a["Project"].as_str()).collect();
    assert!(projects.iter().any(|p| p.starts_with("child")), "{eff}");
    assert!(!projects.iter().any(|p| p.starts_with("parent")), "inherited, not on the parent itself: {eff}");
    // On the parent itself the inherited grant gives nothing.
    let on_parent = Command::new(openstack_cli())
        .env("PYTHONWARNINGS", "ignore")
        .env_remove("OS_CLOUD")
        .args(["--os-auth-url", &server.identity(), "--os-identity-api-version", "3"])
        .args(["--os-username", "heir", "--os-password", "heir-pw", "--os-project-name", "parent"])
        .args(["--os-user-domain-id", "default", "--os-project-domain-id", "default", "token", "issue"])
        .output()
        .expect("run openstack");
    assert!(!on_parent.status.success(), "no role on the parent itself");
}
