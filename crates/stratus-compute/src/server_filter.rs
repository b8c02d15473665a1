//! Which servers `GET /servers` shows: Nova's list filters, each a small test of one record.
//!
//! The API parses the query into a [`ServerFilter`]; [`ServerFilter::compile`] checks what
//! only the service can check (the name's regular expression) once, and the compiled filter
//! then decides each server alone. It reads no store and knows no policy: which projects a
//! caller may list, and which records are read (deleted ones with `changes-since`), is the
//! service's call.

use regex::Regex;

use crate::model::Instance;
use crate::servers::status_of;
use crate::service::{ComputeError, Result};

/// Which servers a list returns.
#[derive(Debug, Clone, Default)]
pub struct ServerFilter {
    pub all_projects: bool,
    pub project_id: Option<String>,
    /// A regular expression searched for anywhere in the name, as Nova's database filter does
    /// (Python's `re.search`: `abc` finds `xabcx`, `^abc$` only `abc`).
    pub name: Option<String>,
    /// Nova's status names (ACTIVE, BUILD, SHUTOFF, ERROR, ...).
    pub status: Option<String>,
    /// The image the server was booted from (its id, exactly).
    pub image: Option<String>,
    /// The flavor's id. A flavor that does not exist matches nothing, as in Nova.
    pub flavor: Option<String>,
    /// Servers changed at or after this time (microseconds); deleted servers are listed too,
    /// as Nova lists them for `changes-since`.
    pub changes_since: Option<i64>,
    /// Servers changed at or before this time (2.66); deleted ones are listed too.
    pub changes_before: Option<i64>,
    /// Locked servers, or unlocked ones (2.73).
    pub locked: Option<bool>,
    /// Fields compared as equal: Nova's filters for administrators (and from 2.83 for
    /// everyone, but the host), and the reservation id for everyone.
    pub user_id: Option<String>,
    pub key_name: Option<String>,
    pub availability_zone: Option<String>,
    pub vm_state: Option<String>,
    pub task_state: Option<String>,
    pub power_state: Option<i64>,
    pub host: Option<String>,
    pub reservation_id: Option<String>,
    pub uuid: Option<String>,
    pub config_drive: Option<bool>,
    /// `ip` and `ip6`: regular expressions matched at the start of the server's IPv4 or IPv6
    /// addresses (Python's `re.match`, as Nova's filter).
    pub ip: Option<String>,
    pub ip6: Option<String>,
    /// Servers with all of these tags, with any of them, without all of them, without any.
    pub tags: Vec<String>,
    pub tags_any: Vec<String>,
    pub not_tags: Vec<String>,
    pub not_tags_any: Vec<String>,
}

/// A [`ServerFilter`] ready to test servers.
#[derive(Debug)]
pub(crate) struct Compiled<'f> {
    f: &'f ServerFilter,
    name: Option<Regex>,
    ip: Option<Regex>,
    ip6: Option<Regex>,
}

/// Bounds what one query can make the service build; names are at most 255 characters.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl ServerFilter {
    pub(crate) fn compile(&self) -> Result<Compiled<'_>> {
        let re = |field: &str, v: &Option<String>, anchored: bool| -> Result<Option<Regex>> {
            let Some(n) = v else { return Ok(None) };
            let pattern = python_braces(n);
            let pattern = if anchored { format!("^(?:{pattern})") } else { pattern };
            regex::RegexBuilder::new(&pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map(Some)
                .map_err(|e| {
                    ComputeError::Invalid(format!(
                        "Invalid input for query parameters {field}: '{n}' is not a regular expression: {}",
                        one_line(&e.to_string())
                    ))
                })
        };
        Ok(Compiled {
            f: self,
            name: re("name", &self.name, false)?,
            ip: re("ip", &self.ip, true)?,
            ip6: re("ip6", &self.ip6, true)?,
        })
    }
}

/// `pattern` in the regex crate's syntax where Python's reads differently: `{m}`, `{m,}`,
/// `{m,n}` and `{,n}` repeat (the last as `{0,n}`) and any other `{` is a plain brace (the
/// regex crate would refuse it); `[`, `&&` and `~~` inside a class are plain characters; and
/// `\Z` is the end of the text. What Python has and the regex crate lacks (look-around,
/// back-references) stays unreadable here, and is refused.
fn python_braces(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.char_indices().peekable();
    let mut in_class = false;
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                match chars.next() {
                    // Python's end of text.
                    Some((_, 'Z')) => out.push('z'),
                    Some((_, next)) => out.push(next),
                    None => {}
                }
            }
            // Plain characters in a Python class; a nested class or a set operation here.
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` (after an optional `^`) first in a class is a member, not its end.
                if let Some(&(_, '^')) = chars.peek() {
                    out.push('^');
                    chars.next();
                }
                if let Some(&(_, ']')) = chars.peek() {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '{' if !in_class => {
                let rest = &pattern[at + 1..];
                let close = rest.find('}');
                let quantifier = close.map(|end| &rest[..end]).filter(|q| {
                    let (lo, hi) = q.split_once(',').unwrap_or((q, q));
                    !q.is_empty() && lo.chars().all(|d| d.is_ascii_digit()) && hi.chars().all(|d| d.is_ascii_digit())
                });
                match quantifier {
                    Some(q) => {
                        out.push('{');
                        if q.starts_with(',') {
                            out.push('0');
                        }
                        out.push_str(q);
                        out.push('}');
                        for _ in 0..=q.chars().count() {
                            chars.next();
                        }
                    }
                    None => out.push_str("\\{"),
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The regex crate's errors point at the pattern over several lines; a fault is one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn addresses_of(i: &Instance, version: u8) -> impl Iterator<Item = &str> {
    i.addresses
        .values()
        .flatten()
        .filter(move |a| a.version == version)
        .map(|a| a.addr.as_str())
}

impl Compiled<'_> {
    /// Whether `i` is listed.
    pub(crate) fn passes(&self, i: &Instance) -> bool {
        let f = self.f;
        let has = |t: &String| i.tags.contains(t);
        self.name.as_ref().is_none_or(|r| r.is_match(&i.name))
            && f.status.as_ref().is_none_or(|s| status_of(i).eq_ignore_ascii_case(s))
            && f.image.as_ref().is_none_or(|m| i.image_id.as_ref() == Some(m))
            && f.flavor.as_ref().is_none_or(|fl| &i.flavor.id == fl)
            && f.changes_since.is_none_or(|t| i.updated_at >= t)
            && f.changes_before.is_none_or(|t| i.updated_at <= t)
            && f.locked.is_none_or(|l| i.locked == l)
            && f.user_id.as_ref().is_none_or(|u| &i.user_id == u)
            && f.key_name.as_ref().is_none_or(|k| i.key_name.as_ref() == Some(k))
            && f
                .availability_zone
                .as_ref()
                .is_none_or(|z| i.availability_zone.as_deref().unwrap_or("nova") == z)
            && f.vm_state.as_ref().is_none_or(|v| &i.vm_state == v)
            && f.task_state.as_ref().is_none_or(|t| i.task_state.as_ref() == Some(t))
            && f.power_state.is_none_or(|p| i.power_state == p)
            && f.host.as_ref().is_none_or(|h| i.host.as_ref() == Some(h))
            && f.reservation_id.as_ref().is_none_or(|r| &i.attrs.reservation_id == r)
            && f.uuid.as_ref().is_none_or(|u| &i.id == u)
            && f.config_drive.is_none_or(|c| i.config_drive == c)
            && self.ip.as_ref().is_none_or(|r| addresses_of(i, 4).any(|a| r.is_match(a)))
            && self.ip6.as_ref().is_none_or(|r| addresses_of(i, 6).any(|a| r.is_match(a)))
            && f.tags.iter().all(has)
            && (f.tags_any.is_empty() || f.tags_any.iter().any(has))
            && (f.not_tags.is_empty() || !f.not_tags.iter().all(has))
            && !f.not_tags_any.iter().any(has)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{Flavor, RequestedNetworks};

    /// An active server of project `p` (user `u`), for tests.
    pub(crate) fn server(name: &str, image: Option<&str>, flavor: &str, updated_at: i64) -> Instance {
        Instance {
            id: format!("id-{name}"),
            name: name.into(),
            project_id: "p".into(),
            user_id: "u".into(),
            flavor: Flavor {
                id: flavor.into(),
                name: format!("f-{flavor}"),
                description: None,
                memory_mb: 64,
                vcpus: 1,
                root_gb: 1,
                ephemeral_gb: 0,
                swap: 0,
                rxtx_factor: 1.0,
                is_public: true,
                disabled: false,
                extra_specs: Default::default(),
            },
            image_id: image.map(Into::into),
            host: None,
            vm_state: "active".into(),
            task_state: None,
            power_state: 1,
            availability_zone: None,
            zone_from_host: false,
            key_name: None,
            key_data: None,
            user_data: None,
            metadata: Default::default(),
            config_drive: false,
            requested_networks: RequestedNetworks::None,
            block_devices: vec![],
            description: None,
            tags: vec![],
            addresses: Default::default(),
            ports: vec![],
            fault: None,
            locked: false,
            attempts: vec![],
            alternates: vec![],
            claimed: false,
            task_deadline: None,
            launched_at: None,
            terminated_at: None,
            created_at: 0,
            updated_at,
            attrs: Default::default(),
        }
    }

    fn listed(f: &ServerFilter, servers: &[Instance]) -> Vec<String> {
        let c = f.compile().expect("compiles");
        servers.iter().filter(|i| c.passes(i)).map(|i| i.name.clone()).collect()
    }

    fn three() -> Vec<Instance> {
        vec![
            server("tempest-instance-123", Some("img-a"), "1", 10),
            server("tempest-instance-456", Some("img-b"), "1", 20),
            server("other-instance-x", Some("img-a"), "2", 30),
        ]
    }

    #[test]
    fn names_are_searched_as_regular_expressions() {
        let s = three();
        let by = |n: &str| {
            listed(
                &ServerFilter {
                    name: Some(n.into()),
                    ..Default::default()
                },
                &s,
            )
        };
        // What tempest's name-regex test sends.
        assert_eq!(
            by(r"^.*\-instance\-[0-9]+$"),
            ["tempest-instance-123", "tempest-instance-456"]
        );
        assert_eq!(by(r"^.*\-instance\-.*$").len(), 3);
        // A plain string is found anywhere in the name, as `re.search` finds it.
        assert_eq!(by("instance-45"), ["tempest-instance-456"]);
        assert_eq!(by("^other"), ["other-instance-x"]);
        assert!(by("non_existing_server_name").is_empty());
        // Case matters, as in Python.
        assert!(by("TEMPEST").is_empty());
    }

    #[test]
    fn braces_are_read_as_python_reads_them() {
        for (python, rust) in [
            ("a{2}", "a{2}"),
            ("a{2,}", "a{2,}"),
            ("a{2,3}", "a{2,3}"),
            ("a{,3}", "a{0,3}"),
            ("{}", "\\{}"),
            ("a{b}", "a\\{b}"),
            ("a{", "a\\{"),
            ("a{1,x}", "a\\{1,x}"),
            ("[{]{2}", "[{]{2}"),
            ("[]{]", "[]{]"),
            ("\\{x", "\\{x"),
            ("[[]", "[\\[]"),
            ("[a&&b]", "[a\\&\\&b]"),
            ("x\\Z", "x\\z"),
        ] {
            assert_eq!(python_braces(python), rust, "{python}");
        }
        let s = [server("web{1}", None, "1", 0), server("webb", None, "1", 0)];
        let by = |n: &str| {
            listed(
                &ServerFilter {
                    name: Some(n.into()),
                    ..Default::default()
                },
                &s,
            )
        };
        assert_eq!(by("b{2}"), ["webb"]);
        assert_eq!(by("web{"), ["web{1}"]);
        assert_eq!(by("1}"), ["web{1}"]);
        assert!(by("b{1}}").is_empty(), "b, then a plain brace");
        // Nothing to repeat: an error in Python as here.
        assert!(ServerFilter {
            name: Some("{1}".into()),
            ..Default::default()
        }
        .compile()
        .is_err());
    }

    #[test]
    fn a_name_that_is_no_regular_expression_is_refused() {
        for bad in ["(", "[a-", "x{2,1}"] {
            let f = ServerFilter {
                name: Some(bad.into()),
                ..Default::default()
            };
            match f.compile() {
                Err(ComputeError::Invalid(m)) => {
                    assert!(m.starts_with("Invalid input for query parameters name"), "{m}");
                    assert!(!m.contains('\n'), "{m}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn image_flavor_and_changes_since_narrow_the_list() {
        let s = three();
        let image = ServerFilter {
            image: Some("img-a".into()),
            ..Default::default()
        };
        assert_eq!(listed(&image, &s), ["tempest-instance-123", "other-instance-x"]);
        let none = ServerFilter {
            image: Some("non_existing_image".into()),
            ..Default::default()
        };
        assert!(listed(&none, &s).is_empty());
        let flavor = ServerFilter {
            flavor: Some("2".into()),
            ..Default::default()
        };
        assert_eq!(listed(&flavor, &s), ["other-instance-x"]);
        let since = ServerFilter {
            changes_since: Some(20),
            ..Default::default()
        };
        assert_eq!(listed(&since, &s), ["tempest-instance-456", "other-instance-x"]);
        let future = ServerFilter {
            changes_since: Some(i64::MAX),
            status: Some("ACTIVE".into()),
            ..Default::default()
        };
        assert!(listed(&future, &s).is_empty());
        let both = ServerFilter {
            image: Some("img-a".into()),
            flavor: Some("1".into()),
            ..Default::default()
        };
        assert_eq!(listed(&both, &s), ["tempest-instance-123"]);
        // A server booted from a volume has no image, and no image filter lists it.
        let bfv = [server("bfv", None, "1", 0)];
        assert!(listed(&image, &bfv).is_empty());
    }

    #[test]
    fn fields_states_addresses_and_the_change_window_narrow_the_list() {
        use crate::model::Address;
        let mut s = three();
        s[0].user_id = "alice".into();
        s[0].locked = true;
        s[0].key_name = Some("k".into());
        s[1].vm_state = "stopped".into();
        s[1].power_state = 4;
        s[1].host = Some("host-b".into());
        s[1].availability_zone = Some("east".into());
        let addr = |a: &str, v: u8| Address { addr: a.into(), version: v, mac: "m".into(), port_id: "p".into() };
        s[2].addresses.insert("net".into(), vec![addr("10.0.0.12", 4), addr("fd00::12", 6)]);
        s[2].config_drive = true;
        let by = |f: ServerFilter| listed(&f, &s);
        assert_eq!(by(ServerFilter { user_id: Some("alice".into()), ..Default::default() }), ["tempest-instance-123"]);
        assert_eq!(by(ServerFilter { locked: Some(false), ..Default::default() }).len(), 2);
        assert_eq!(by(ServerFilter { key_name: Some("k".into()), ..Default::default() }), ["tempest-instance-123"]);
        assert_eq!(
            by(ServerFilter { vm_state: Some("stopped".into()), power_state: Some(4), ..Default::default() }),
            ["tempest-instance-456"]
        );
        assert_eq!(by(ServerFilter { host: Some("host-b".into()), ..Default::default() }), ["tempest-instance-456"]);
        assert_eq!(
            by(ServerFilter { availability_zone: Some("nova".into()), ..Default::default() }),
            ["tempest-instance-123", "other-instance-x"]
        );
        assert_eq!(by(ServerFilter { config_drive: Some(true), ..Default::default() }), ["other-instance-x"]);
        // `ip` is matched from the start of an address, as Python's re.match.
        assert_eq!(by(ServerFilter { ip: Some("10.0.0.1".into()), ..Default::default() }), ["other-instance-x"]);
        assert!(by(ServerFilter { ip: Some("0.0.12".into()), ..Default::default() }).is_empty());
        assert_eq!(by(ServerFilter { ip6: Some("fd00::".into()), ..Default::default() }), ["other-instance-x"]);
        assert!(ServerFilter { ip: Some("(".into()), ..Default::default() }.compile().is_err());
        // changes-before bounds the change time from above.
        assert_eq!(
            by(ServerFilter { changes_since: Some(15), changes_before: Some(25), ..Default::default() }),
            ["tempest-instance-456"]
        );
    }
}
