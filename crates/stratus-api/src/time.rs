//! Times as the OpenStack services print them. Each service has its own habit and clients
//! parse what that service sends, so the shape is chosen per service, not unified.

fn format(micros: i64, fmt: &str) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format(fmt).to_string())
        .unwrap_or_default()
}

/// `2026-11-25T15:09:56Z`: Glance, Neutron, Nova's servers.
pub fn seconds_z(micros: i64) -> String {
    format(micros, "%Y-%m-%dT%H:%M:%SZ")
}

/// `2026-11-25T15:09:56.000000Z`: Keystone.
pub fn micros_z(micros: i64) -> String {
    format(micros, "%Y-%m-%dT%H:%M:%S%.6fZ")
}

/// `2026-11-25T15:09:56.000000`: Cinder, and Nova's other resources.
pub fn micros_naive(micros: i64) -> String {
    format(micros, "%Y-%m-%dT%H:%M:%S%.6f")
}

#[cfg(test)]
mod tests {
    #[test]
    fn shapes() {
        let t = 1_764_083_396_000_042;
        assert_eq!(super::seconds_z(t), "2025-11-25T15:09:56Z");
        assert_eq!(super::micros_z(t), "2025-11-25T15:09:56.000042Z");
        assert_eq!(super::micros_naive(t), "2025-11-25T15:09:56.000042");
    }
}
