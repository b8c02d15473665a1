//! Address arithmetic for subnets: default pools, pool validation, picking a free address,
//! and SLAAC addresses from MAC addresses. Uniqueness itself is the database's job (a primary
//! key on subnet and address); this module only proposes candidates.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use rand::Rng;

use crate::error::{NetworkError, Result};
use crate::model::Pool;

pub(crate) fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

pub(crate) fn from_u128(v: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(v))
    } else {
        IpAddr::V4(Ipv4Addr::from(v as u32))
    }
}

/// The first and last address of the subnet that hosts may have: IPv4 leaves out the network
/// and broadcast addresses; IPv6 leaves out the subnet-router anycast address (the first).
pub(crate) fn host_range(cidr: &IpNet) -> (u128, u128) {
    let first = to_u128(cidr.network());
    let last = to_u128(cidr.broadcast());
    (first + 1, if cidr.addr().is_ipv4() { last - 1 } else { last })
}

/// Neutron's default pools: the host range less the gateway.
pub(crate) fn default_pools(cidr: &IpNet, gateway: Option<IpAddr>) -> Vec<Pool> {
    let v6 = cidr.addr().is_ipv6();
    let (lo, hi) = host_range(cidr);
    let mk = |a: u128, b: u128| Pool {
        start: from_u128(a, v6),
        end: from_u128(b, v6),
    };
    match gateway.map(to_u128) {
        Some(g) if g >= lo && g <= hi => {
            let mut pools = Vec::new();
            if g > lo {
                pools.push(mk(lo, g - 1));
            }
            if g < hi {
                pools.push(mk(g + 1, hi));
            }
            pools
        }
        _ => vec![mk(lo, hi)],
    }
}

/// Checks pools given by a user: inside the subnet's host range, ordered, not overlapping,
/// and not containing the gateway.
pub(crate) fn check_pools(cidr: &IpNet, pools: &[Pool], gateway: Option<IpAddr>) -> Result<()> {
    let (lo, hi) = host_range(cidr);
    let mut ranges: Vec<(u128, u128)> = Vec::new();
    for p in pools {
        if p.start.is_ipv4() != cidr.addr().is_ipv4() || p.end.is_ipv4() != cidr.addr().is_ipv4() {
            return Err(NetworkError::invalid_as(
                "InvalidAllocationPool",
                format!(
                    "The allocation pool {}-{} is not of the subnet's IP version.",
                    p.start, p.end
                ),
            ));
        }
        let (s, e) = (to_u128(p.start), to_u128(p.end));
        if s > e {
            return Err(NetworkError::invalid_as(
                "InvalidAllocationPool",
                format!("The allocation pool {}-{} starts after it ends.", p.start, p.end),
            ));
        }
        if s < lo || e > hi {
            return Err(NetworkError::invalid_as(
                "OutOfBoundsAllocationPool",
                format!(
                    "The allocation pool {}-{} spans beyond the subnet cidr {cidr}.",
                    p.start, p.end
                ),
            ));
        }
        if let Some(g) = gateway.map(to_u128) {
            if g >= s && g <= e {
                return Err(NetworkError::conflict(
                    "GatewayConflictWithAllocationPools",
                    format!(
                        "Gateway ip {} conflicts with allocation pool {}-{}.",
                        from_u128(g, cidr.addr().is_ipv6()),
                        p.start,
                        p.end
                    ),
                ));
            }
        }
        if let Some(o) = ranges.iter().find(|(a, b)| s <= *b && *a <= e) {
            let v6 = cidr.addr().is_ipv6();
            return Err(NetworkError::invalid_as(
                "OverlappingAllocationPools",
                format!(
                    "Found overlapping allocation pools: {}-{} and {}-{}.",
                    p.start,
                    p.end,
                    from_u128(o.0, v6),
                    from_u128(o.1, v6)
                ),
            ));
        }
        ranges.push((s, e));
    }
    Ok(())
}

/// A random address of the pools, for a first try before looking at what is taken.
pub(crate) fn random_candidate(pools: &[Pool]) -> Option<IpAddr> {
    let total: u128 = pools.iter().map(|p| to_u128(p.end) - to_u128(p.start) + 1).sum();
    if total == 0 {
        return None;
    }
    let mut n = rand::thread_rng().gen_range(0..total);
    for p in pools {
        let size = to_u128(p.end) - to_u128(p.start) + 1;
        if n < size {
            return Some(from_u128(to_u128(p.start) + n, p.start.is_ipv6()));
        }
        n -= size;
    }
    None
}

/// A free address chosen at random among those not in `taken` (sorted), walking the pools.
/// Concurrent allocators then rarely pick the same one.
pub(crate) fn free_candidate(pools: &[Pool], taken: &[u128]) -> Option<IpAddr> {
    let mut free: Vec<(u128, u128)> = Vec::new();
    for p in pools {
        let (mut s, e) = (to_u128(p.start), to_u128(p.end));
        let from = taken.partition_point(|t| *t < s);
        for t in &taken[from..] {
            if *t > e {
                break;
            }
            if *t > s {
                free.push((s, *t - 1));
            }
            s = *t + 1;
        }
        if s <= e {
            free.push((s, e));
        }
    }
    let total: u128 = free.iter().map(|(a, b)| b - a + 1).sum();
    if total == 0 {
        return None;
    }
    let mut n = rand::thread_rng().gen_range(0..total);
    let v6 = pools.first().is_some_and(|p| p.start.is_ipv6());
    for (a, b) in free {
        if n <= b - a {
            return Some(from_u128(a + n, v6));
        }
        n -= b - a + 1;
    }
    None
}

/// The SLAAC (EUI-64) address of `mac` in a /64.
pub(crate) fn eui64(cidr: &IpNet, mac: &str) -> Option<IpAddr> {
    let bytes: Vec<u8> = mac.split(':').filter_map(|b| u8::from_str_radix(b, 16).ok()).collect();
    if bytes.len() != 6 || cidr.prefix_len() != 64 || !cidr.addr().is_ipv6() {
        return None;
    }
    let iid = [
        bytes[0] ^ 0x02,
        bytes[1],
        bytes[2],
        0xff,
        0xfe,
        bytes[3],
        bytes[4],
        bytes[5],
    ];
    let prefix = to_u128(cidr.network()) >> 64 << 64;
    Some(from_u128(prefix | u64::from_be_bytes(iid) as u128, true))
}

/// A MAC address in OpenStack's fa:16:3e range.
pub(crate) fn random_mac() -> String {
    let mut r = rand::thread_rng();
    format!(
        "fa:16:3e:{:02x}:{:02x}:{:02x}",
        r.gen::<u8>(),
        r.gen::<u8>(),
        r.gen::<u8>()
    )
}

/// A unicast MAC address in canonical lower-case form.
pub(crate) fn normalize_mac(mac: &str) -> Option<String> {
    let parts: Vec<&str> = mac.split([':', '-']).collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2 || u8::from_str_radix(p, 16).is_err()) {
        return None;
    }
    let first = u8::from_str_radix(parts[0], 16).ok()?;
    if first & 1 == 1 {
        return None;
    }
    Some(parts.join(":").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("cidr")
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn default_pools_leave_out_network_broadcast_and_gateway() {
        let pools = default_pools(&net("10.0.0.0/24"), Some(ip("10.0.0.1")));
        assert_eq!(
            pools,
            vec![Pool {
                start: ip("10.0.0.2"),
                end: ip("10.0.0.254")
            }]
        );
        let pools = default_pools(&net("10.0.0.0/24"), Some(ip("10.0.0.100")));
        assert_eq!(pools.len(), 2);
        let pools = default_pools(&net("fd00::/64"), Some(ip("fd00::1")));
        assert_eq!(pools[0].start, ip("fd00::2"));
        assert_eq!(pools[0].end, ip("fd00::ffff:ffff:ffff:ffff"));
    }

    #[test]
    fn bad_pools_are_named() {
        let cidr = net("10.0.0.0/24");
        let p = |a: &str, b: &str| Pool {
            start: ip(a),
            end: ip(b),
        };
        assert!(check_pools(&cidr, &[p("10.0.0.10", "10.0.0.20")], Some(ip("10.0.0.1"))).is_ok());
        let kind = |r: Result<()>| match r {
            Err(NetworkError::Invalid { kind, .. }) | Err(NetworkError::Conflict { kind, .. }) => kind,
            _ => "ok",
        };
        assert_eq!(
            kind(check_pools(&cidr, &[p("10.0.1.10", "10.0.1.20")], None)),
            "OutOfBoundsAllocationPool"
        );
        assert_eq!(
            kind(check_pools(&cidr, &[p("10.0.0.20", "10.0.0.10")], None)),
            "InvalidAllocationPool"
        );
        assert_eq!(
            kind(check_pools(&cidr, &[p("10.0.0.1", "10.0.0.10")], Some(ip("10.0.0.1")))),
            "GatewayConflictWithAllocationPools"
        );
        assert_eq!(
            kind(check_pools(
                &cidr,
                &[p("10.0.0.10", "10.0.0.20"), p("10.0.0.15", "10.0.0.30")],
                None
            )),
            "OverlappingAllocationPools"
        );
        assert_eq!(
            kind(check_pools(&cidr, &[p("10.0.0.0", "10.0.0.5")], None)),
            "OutOfBoundsAllocationPool"
        );
    }

    #[test]
    fn free_candidates_avoid_taken_addresses() {
        let pools = vec![Pool {
            start: ip("10.0.0.2"),
            end: ip("10.0.0.5"),
        }];
        let taken: Vec<u128> = ["10.0.0.2", "10.0.0.3", "10.0.0.5"]
            .iter()
            .map(|s| to_u128(ip(s)))
            .collect();
        for _ in 0..20 {
            assert_eq!(free_candidate(&pools, &taken), Some(ip("10.0.0.4")));
        }
        let all: Vec<u128> = (2..=5).map(|n| to_u128(ip(&format!("10.0.0.{n}")))).collect();
        assert_eq!(free_candidate(&pools, &all), None);
    }

    #[test]
    fn macs_and_slaac() {
        assert_eq!(normalize_mac("FA-16-3E-00-11-22").as_deref(), Some("fa:16:3e:00:11:22"));
        assert!(normalize_mac("01:00:5e:00:00:01").is_none(), "multicast");
        assert!(normalize_mac("fa:16:3e:00:11").is_none());
        assert!(random_mac().starts_with("fa:16:3e:"));
        assert_eq!(
            eui64(&net("2001:db8::/64"), "fa:16:3e:00:11:22"),
            Some(ip("2001:db8::f816:3eff:fe00:1122"))
        );
    }
}
