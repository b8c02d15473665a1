//! Nova's AvailabilityZoneFilter: a guest asked into a zone goes only to that zone's hosts,
//! those whose aggregates name the zone or, for a host in no zoned aggregate, whose agent
//! reports it (the default zone).

use super::{HostState, RequestSpec};

/// Why `h` is not in the zone `spec` asks for, or None (also when it asks for none).
pub(super) fn reject(h: &HostState, spec: &RequestSpec) -> Option<String> {
    let az = spec.availability_zone.as_ref()?;
    let inside = match h.aggregate_metadata.get(crate::aggregates::AZ_KEY) {
        Some(zones) => zones.contains(az),
        None => &h.availability_zone == az,
    };
    (!inside).then(|| format!("not in availability zone {az}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::tests::host;

    #[test]
    fn the_zone_of_a_host_is_its_aggregates_else_the_default() {
        let mut s = RequestSpec::default();
        let plain = host("plain", 1024);
        let mut zoned = host("zoned", 1024);
        zoned
            .aggregate_metadata
            .insert("availability_zone".into(), ["east".to_owned()].into());
        assert_eq!(reject(&plain, &s), None, "no zone asked");
        assert_eq!(reject(&zoned, &s), None, "no zone asked");
        s.availability_zone = Some("east".into());
        assert_eq!(reject(&zoned, &s), None);
        assert_eq!(reject(&plain, &s).as_deref(), Some("not in availability zone east"));
        s.availability_zone = Some("nova".into());
        assert_eq!(reject(&plain, &s), None, "the default zone");
        assert!(reject(&zoned, &s).is_some(), "a zoned host leaves the default zone");
    }
}
