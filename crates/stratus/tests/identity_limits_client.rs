//! Unified limits through python-openstackclient against a fresh `stratus up`: a registered
//! default, a project's own limit, what each caller may see, and the refusals Keystone makes.

mod common;

use common::cli::Cli;
use common::Server;

#[test]
fn registered_limits_and_project_limits_through_the_client() {
    let server = Server::start(&[]);
    let admin = Cli::admin(&server);
    let reg = admin.json(&[
        "registered", "limit", "create", "--service", "compute", "--default-limit", "10", "--description", "cores by default",
        "cores",
    ]);
    assert_eq!(reg["default_limit"], 10, "{reg}");
    let reg_id = reg["id"].as_str().expect("id").to_owned();
    // One registered limit per service, region and resource.
    let dup = admin.fails(&["registered", "limit", "create", "--service", "compute", "--default-limit", "5", "cores"]);
    assert!(dup.contains("409") || dup.contains("Conflict") || dup.contains("Duplicate"), "{dup}");

    admin.ok(&["project", "create", "limited"]);
    admin.ok(&["user", "create", "--password", "lim-pw", "lim"]);
    admin.ok(&["role", "add", "--project", "limited", "--user", "lim", "member"]);
    let limit = admin.json(&[
        "limit", "create", "--project", "limited", "--service", "compute", "--resource-limit", "4", "cores",
    ]);
    let limit_id = limit["id"].as_str().expect("id").to_owned();
    assert_eq!(limit["resource_limit"], 4, "{limit}");
    // A limit of a resource nobody registered is refused.
    let unregistered = admin.fails(&[
        "limit", "create", "--project", "limited", "--service", "compute", "--resource-limit", "4", "ram",
    ]);
    assert!(unregistered.contains("403") || unregistered.contains("register"), "{unregistered}");

    admin.ok(&["limit", "set", "--resource-limit", "6", &limit_id]);
    assert_eq!(admin.json(&["limit", "show", &limit_id])["resource_limit"], 6);
    // The project's member sees its limit (and every registered default); another
    // project's member sees no limit of it.
    let member = Cli::user(&server, "lim", "lim-pw", "limited");
    let seen = member.json(&["limit", "list"]);
    assert_eq!(seen.as_array().map(Vec::len), Some(1), "{seen}");
    assert!(member.json(&["registered", "limit", "list"]).to_string().contains(&reg_id));
    admin.ok(&["project", "create", "other"]);
    admin.ok(&["user", "create", "--password", "oth-pw", "oth"]);
    admin.ok(&["role", "add", "--project", "other", "--user", "oth", "member"]);
    let other = Cli::user(&server, "oth", "oth-pw", "other");
    assert_eq!(other.json(&["limit", "list"]).as_array().map(Vec::len), Some(0));
    other.fails(&["limit", "show", &limit_id]);

    // A registered limit that limits refer to stays until they go.
    admin.fails(&["registered", "limit", "delete", &reg_id]);
    admin.ok(&["limit", "delete", &limit_id]);
    admin.ok(&["registered", "limit", "delete", &reg_id]);
    assert_eq!(admin.json(&["registered", "limit", "list"]).as_array().map(Vec::len), Some(0));
}
