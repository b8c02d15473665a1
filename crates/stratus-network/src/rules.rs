//! What a security group rule and a rule template share: the checks of their attributes, in
//! Neutron's order and with its error types, and when two rules are the same rule.
//!
//! Neutron keeps a remote prefix as it was given (`10.0.0.5/24`; an address gains its full
//! mask) and shows the network it means beside it as `normalized_cidr`; two rules whose
//! prefixes mean the same network, or whose protocols are a name and its number, are the same
//! rule. This module decides nothing about groups, projects or policy.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::{NetworkError, Result};

/// Protocol names Neutron accepts (its `IP_PROTOCOL_MAP`), with their numbers.
const PROTOCOLS: &[(&str, u8)] = &[
    ("ah", 51),
    ("dccp", 33),
    ("egp", 8),
    ("esp", 50),
    ("gre", 47),
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ip", 0),
    ("ipip", 4),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
    ("ospf", 89),
    ("pgm", 113),
    ("rsvp", 46),
    ("sctp", 132),
    ("tcp", 6),
    ("udp", 17),
    ("udplite", 136),
    ("vrrp", 112),
];

/// Protocols whose rules may name a port range.
const PORTED: &[u8] = &[6, 17, 33, 132, 136];
const ICMP: &[u8] = &[1, 58];

/// A rule's attributes as a request gives them.
#[derive(Debug, Default, Clone)]
pub(crate) struct RuleAsked {
    pub direction: Option<String>,
    pub ethertype: Option<String>,
    pub protocol: Option<String>,
    pub port_range_min: Option<i64>,
    pub port_range_max: Option<i64>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    pub remote_address_group_id: bool,
    pub description: Option<String>,
}

/// A rule's attributes, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RuleChecked {
    pub direction: String,
    pub ethertype: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<i64>,
    pub port_range_max: Option<i64>,
    pub remote_ip_prefix: Option<String>,
    pub normalized_cidr: Option<String>,
    pub remote_group_id: Option<String>,
    pub description: String,
}

fn number_of(protocol: &str) -> Option<u8> {
    PROTOCOLS
        .iter()
        .find(|(n, _)| *n == protocol)
        .map(|(_, v)| *v)
        .or_else(|| protocol.parse().ok())
}

/// Neutron's `convert_ip_prefix_to_cidr`: a CIDR (host bits kept), an address (which gets its
/// full mask) or an address with a netmask; `InvalidCIDR` otherwise.
pub(crate) fn parse_prefix(p: &str) -> Result<IpNet> {
    let bad = || NetworkError::invalid_as("InvalidCIDR", format!("Invalid CIDR {p} given as IP prefix."));
    if p.trim() != p || p.is_empty() {
        return Err(bad());
    }
    if let Ok(net) = p.parse::<IpNet>() {
        return Ok(net);
    }
    if let Ok(ip) = p.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    // 10.0.0.0/255.255.255.0
    let (addr, mask) = p.split_once('/').ok_or_else(bad)?;
    match (addr.parse::<IpAddr>(), mask.parse::<IpAddr>()) {
        (Ok(a), Ok(m)) if a.is_ipv4() == m.is_ipv4() => IpNet::with_netmask(a, m).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Checks a rule's attributes in Neutron's order: direction, ethertype, protocol, the port
/// values, what the protocol allows of them, the remote prefix against the ethertype, then
/// prefix and group together.
pub(crate) fn check(asked: RuleAsked) -> Result<RuleChecked> {
    let direction = asked
        .direction
        .ok_or_else(|| NetworkError::invalid("'direction' is required: ingress or egress"))?;
    if direction != "ingress" && direction != "egress" {
        return Err(NetworkError::invalid_as(
            "InvalidInput",
            format!("Invalid input for direction. Reason: '{direction}' is not in ['ingress', 'egress']."),
        ));
    }
    // Neutron matches the ethertype without regard to case.
    let ethertype = match asked.ethertype.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("ipv4") => "IPv4".to_owned(),
        Some("ipv6") => "IPv6".to_owned(),
        Some(_) => {
            return Err(NetworkError::invalid_as(
                "SecurityGroupRuleInvalidEtherType",
                format!(
                    "Security group rule for ethertype '{}' not supported. Allowed values are IPv4, IPv6.",
                    asked.ethertype.unwrap_or_default()
                ),
            ))
        }
    };
    let protocol = match asked.protocol.as_deref().map(str::to_ascii_lowercase) {
        None => None,
        Some(p) if p == "any" => None,
        Some(p) if PROTOCOLS.iter().any(|(n, _)| *n == p) => Some(p),
        Some(p) if p.parse::<u8>().is_ok() => Some(p),
        Some(p) => {
            return Err(NetworkError::invalid_as(
                "SecurityGroupRuleInvalidProtocol",
                format!(
                    "Security group rule protocol {p} not supported. Only protocol values {} and integer representations [0 to 255] are supported.",
                    PROTOCOLS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            ))
        }
    };
    let number = protocol.as_deref().and_then(number_of);
    if ethertype == "IPv4" && matches!(protocol.as_deref(), Some("ipv6-icmp" | "icmpv6")) {
        return Err(NetworkError::invalid_as(
            "SecurityGroupEthertypeConflictWithProtocol",
            format!(
                "Invalid ethertype {ethertype} for protocol {}.",
                protocol.as_deref().unwrap_or_default()
            ),
        ));
    }
    let ported = number.is_some_and(|n| PORTED.contains(&n));
    let icmp = number.is_some_and(|n| ICMP.contains(&n));
    let (min, max) = (asked.port_range_min, asked.port_range_max);
    // The values first (any protocol), then what the protocol makes of them.
    for v in [min, max].into_iter().flatten() {
        if !(0..=65535).contains(&v) {
            return Err(NetworkError::invalid_as(
                "SecurityGroupInvalidPortValue",
                format!("Invalid value for port {v}"),
            ));
        }
    }
    let has_ports = min.is_some() || max.is_some();
    if has_ports && protocol.is_none() {
        return Err(NetworkError::invalid_as(
            "SecurityGroupProtocolRequiredWithPorts",
            "Must also specify protocol if port range is given.",
        ));
    }
    if has_ports && !ported && !icmp {
        return Err(NetworkError::invalid_as(
            "SecurityGroupInvalidProtocolForPort",
            format!(
                "Invalid protocol {} for port range, only supported for TCP, UDP, UDPLITE, SCTP and DCCP.",
                protocol.as_deref().unwrap_or_default()
            ),
        ));
    }
    if ported && has_ports {
        if let Some(zero) = [min, max].into_iter().flatten().find(|v| *v == 0) {
            return Err(NetworkError::invalid_as(
                "SecurityGroupInvalidPortValue",
                format!("Invalid value for port {zero}"),
            ));
        }
        match (min, max) {
            (Some(a), Some(b)) if a <= b => {}
            _ => {
                return Err(NetworkError::invalid_as(
                    "SecurityGroupInvalidPortRange",
                    "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                ))
            }
        }
    }
    if icmp {
        for (v, field, attr) in [(min, "type", "port_range_min"), (max, "code", "port_range_max")] {
            if let Some(v) = v.filter(|v| !(0..=255).contains(v)) {
                return Err(NetworkError::invalid_as(
                    "SecurityGroupInvalidIcmpValue",
                    format!("Invalid value for ICMP {field} ({attr}) {v}. It must be 0 to 255."),
                ));
            }
        }
        if let (None, Some(code)) = (min, max) {
            return Err(NetworkError::invalid_as(
                "SecurityGroupMissingIcmpType",
                format!("ICMP code (port-range-max) {code} is provided but ICMP type (port-range-min) is missing."),
            ));
        }
    }
    let (remote_ip_prefix, normalized_cidr) = match &asked.remote_ip_prefix {
        Some(p) => {
            let net = parse_prefix(p)?;
            if net.addr().is_ipv4() != (ethertype == "IPv4") {
                return Err(NetworkError::invalid_as(
                    "SecurityGroupRuleParameterConflict",
                    format!("Conflicting value ethertype {ethertype} for CIDR {p}"),
                ));
            }
            (Some(net.to_string()), Some(net.trunc().to_string()))
        }
        None => (None, None),
    };
    if remote_ip_prefix.is_some() && asked.remote_group_id.is_some() {
        return Err(NetworkError::invalid_as(
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            "Only remote_ip_prefix or remote_group_id may be provided.",
        ));
    }
    if asked.remote_address_group_id {
        return Err(NetworkError::invalid("address groups are not supported here"));
    }
    let description = asked.description.unwrap_or_default();
    crate::check_len("description", &description)?;
    Ok(RuleChecked {
        direction,
        ethertype,
        protocol,
        port_range_min: min,
        port_range_max: max,
        remote_ip_prefix,
        normalized_cidr,
        remote_group_id: asked.remote_group_id,
        description,
    })
}

/// What makes two rules the same rule (Neutron's `_rule_to_key`): the prefix by the network
/// it means, with "every address" the same as none, and the protocol by its number (for IPv6,
/// `icmp` and `icmpv6` are `ipv6-icmp`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RuleKey<'a> {
    direction: &'a str,
    ethertype: &'a str,
    protocol: Option<String>,
    port_range_min: Option<i64>,
    port_range_max: Option<i64>,
    remote_group_id: Option<&'a str>,
    cidr: Option<&'a str>,
}

impl<'a> RuleKey<'a> {
    pub(crate) fn new(
        direction: &'a str,
        ethertype: &'a str,
        protocol: Option<&'a str>,
        ports: (Option<i64>, Option<i64>),
        remote_group_id: Option<&'a str>,
        normalized_cidr: Option<&'a str>,
    ) -> Self {
        let protocol = protocol.map(|p| match number_of(p) {
            Some(1) if ethertype == "IPv6" => "58".to_owned(),
            Some(n) => n.to_string(),
            None => p.to_owned(),
        });
        RuleKey {
            direction,
            ethertype,
            protocol,
            port_range_min: ports.0,
            port_range_max: ports.1,
            remote_group_id,
            cidr: normalized_cidr.filter(|c| *c != "0.0.0.0/0" && *c != "::/0"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(r: Result<RuleChecked>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(NetworkError::Invalid { kind, .. }) => kind,
            Err(_) => "other",
        }
    }

    fn asked(direction: &str) -> RuleAsked {
        RuleAsked {
            direction: Some(direction.into()),
            ..Default::default()
        }
    }

    #[test]
    fn prefixes_keep_what_was_given_and_show_the_network() {
        let r = check(RuleAsked {
            remote_ip_prefix: Some("10.0.0.5/24".into()),
            ..asked("ingress")
        })
        .expect("host bits are accepted");
        assert_eq!(r.remote_ip_prefix.as_deref(), Some("10.0.0.5/24"));
        assert_eq!(r.normalized_cidr.as_deref(), Some("10.0.0.0/24"));
        let r = check(RuleAsked {
            remote_ip_prefix: Some("192.0.2.7".into()),
            ..asked("ingress")
        })
        .expect("an address");
        assert_eq!(r.remote_ip_prefix.as_deref(), Some("192.0.2.7/32"));
        let r = check(RuleAsked {
            ethertype: Some("ipv6".into()),
            remote_ip_prefix: Some("2001:DB8::1/64".into()),
            ..asked("egress")
        })
        .expect("IPv6, any case");
        assert_eq!(r.ethertype, "IPv6");
        assert_eq!(r.remote_ip_prefix.as_deref(), Some("2001:db8::1/64"));
        assert_eq!(r.normalized_cidr.as_deref(), Some("2001:db8::/64"));
        assert_eq!(
            parse_prefix("10.1.0.0/255.255.0.0").expect("netmask").to_string(),
            "10.1.0.0/16"
        );
        for bad in [
            "10.0.0.0/33",
            "10/8",
            "nonsense",
            " 10.0.0.0/8",
            "10.0.0.0/255.0.255.0",
            "",
        ] {
            assert!(
                matches!(
                    parse_prefix(bad),
                    Err(NetworkError::Invalid {
                        kind: "InvalidCIDR",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn ports_and_protocols_are_checked_in_neutrons_order() {
        let with = |p: &str, min: Option<i64>, max: Option<i64>| RuleAsked {
            protocol: Some(p.into()),
            port_range_min: min,
            port_range_max: max,
            ..asked("ingress")
        };
        assert_eq!(kind(check(with("tcp", Some(22), Some(22)))), "ok");
        assert_eq!(kind(check(with("udplite", Some(1), Some(2)))), "ok");
        assert_eq!(
            kind(check(with("tcp", Some(90), Some(80)))),
            "SecurityGroupInvalidPortRange"
        );
        assert_eq!(kind(check(with("tcp", Some(1), None))), "SecurityGroupInvalidPortRange");
        assert_eq!(
            kind(check(with("tcp", Some(0), Some(5)))),
            "SecurityGroupInvalidPortValue"
        );
        assert_eq!(
            kind(check(with("tcp", Some(70000), Some(5)))),
            "SecurityGroupInvalidPortValue"
        );
        assert_eq!(
            kind(check(with("vrrp", Some(1), Some(2)))),
            "SecurityGroupInvalidProtocolForPort"
        );
        assert_eq!(
            kind(check(with("111", Some(1), None))),
            "SecurityGroupInvalidProtocolForPort"
        );
        assert_eq!(kind(check(with("icmp", None, Some(3)))), "SecurityGroupMissingIcmpType");
        assert_eq!(
            kind(check(with("icmp", Some(300), None))),
            "SecurityGroupInvalidIcmpValue"
        );
        assert_eq!(
            kind(check(with("bogus", None, None))),
            "SecurityGroupRuleInvalidProtocol"
        );
        assert_eq!(
            kind(check(with("ipv6-icmp", None, None))),
            "SecurityGroupEthertypeConflictWithProtocol"
        );
        let no_protocol = RuleAsked {
            port_range_min: Some(1),
            ..asked("ingress")
        };
        assert_eq!(kind(check(no_protocol)), "SecurityGroupProtocolRequiredWithPorts");
        assert_eq!(kind(check(asked("sideways"))), "InvalidInput");
        let ether = RuleAsked {
            ethertype: Some("IPv5".into()),
            ..asked("ingress")
        };
        assert_eq!(kind(check(ether)), "SecurityGroupRuleInvalidEtherType");
        let both = RuleAsked {
            remote_ip_prefix: Some("10.0.0.0/8".into()),
            remote_group_id: Some("g".into()),
            ..asked("ingress")
        };
        assert_eq!(kind(check(both)), "SecurityGroupRemoteGroupAndRemoteIpPrefix");
    }

    #[test]
    fn same_rules_are_told_apart_as_neutron_does() {
        let k = |proto: Option<&'static str>, cidr: Option<&'static str>, eth: &'static str| {
            RuleKey::new("ingress", eth, proto, (None, None), None, cidr)
        };
        assert_eq!(k(Some("tcp"), None, "IPv4"), k(Some("6"), None, "IPv4"));
        assert_eq!(k(None, Some("0.0.0.0/0"), "IPv4"), k(None, None, "IPv4"));
        assert_eq!(k(None, Some("::/0"), "IPv6"), k(None, None, "IPv6"));
        assert_eq!(k(Some("icmp"), None, "IPv6"), k(Some("ipv6-icmp"), None, "IPv6"));
        assert_ne!(k(Some("icmp"), None, "IPv4"), k(Some("ipv6-icmp"), None, "IPv4"));
        assert_ne!(k(None, Some("10.0.0.0/8"), "IPv4"), k(None, None, "IPv4"));
    }
}
