//! Nova's AggregateInstanceExtraSpecsFilter: a flavor's extra specs scoped
//! `aggregate_instance_extra_specs:` (and unscoped ones, as Nova reads them) must match the
//! metadata of one of the host's aggregates, with the operators of [`super::extra_specs_ops`].
//! Specs of any other scope (`hw:`, `quota:`, ...) are not this filter's business.

use super::{extra_specs_ops, HostState, RequestSpec};

const SCOPE: &str = "aggregate_instance_extra_specs";

/// Why `h`'s aggregates do not satisfy the flavor, or None.
pub(super) fn reject(h: &HostState, spec: &RequestSpec) -> Option<String> {
    for (key, wanted) in &spec.extra_specs {
        let key = match key.split_once(':') {
            Some((scope, rest)) if scope == SCOPE => rest,
            Some(_) => continue,
            None => key.as_str(),
        };
        let Some(values) = h.aggregate_metadata.get(key).filter(|v| !v.is_empty()) else {
            return Some(format!("are in no aggregate with metadata {key}"));
        };
        if !values.iter().any(|v| extra_specs_ops::matches(v, wanted)) {
            return Some(format!("have aggregate metadata {key} not matching '{wanted}'"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::tests::host;

    fn with_meta(pairs: &[(&str, &str)]) -> HostState {
        let mut h = host("h", 1024);
        for (k, v) in pairs {
            h.aggregate_metadata
                .entry((*k).to_owned())
                .or_default()
                .insert((*v).to_owned());
        }
        h
    }

    fn wanting(pairs: &[(&str, &str)]) -> RequestSpec {
        RequestSpec {
            extra_specs: pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn scoped_and_unscoped_specs_match_aggregate_metadata() {
        let ssd = with_meta(&[("ssd", "true"), ("gpus", "4")]);
        let plain = host("plain", 1024);
        let s = wanting(&[("aggregate_instance_extra_specs:ssd", "true")]);
        assert_eq!(reject(&ssd, &s), None);
        assert_eq!(
            reject(&plain, &s).as_deref(),
            Some("are in no aggregate with metadata ssd")
        );
        let s = wanting(&[("aggregate_instance_extra_specs:ssd", "false")]);
        assert!(reject(&ssd, &s).is_some());
        // Other scopes are other filters' business; unscoped keys count, as in Nova.
        assert_eq!(reject(&plain, &wanting(&[("hw:cpu_policy", "dedicated")])), None);
        assert!(reject(&plain, &wanting(&[("ssd", "true")])).is_some());
        assert_eq!(reject(&ssd, &wanting(&[("ssd", "true")])), None);
        // Operators.
        assert_eq!(
            reject(&ssd, &wanting(&[("aggregate_instance_extra_specs:gpus", ">= 2")])),
            None
        );
        assert!(reject(&ssd, &wanting(&[("aggregate_instance_extra_specs:gpus", ">= 8")])).is_some());
        // One of several aggregates' values is enough.
        let two = with_meta(&[("rack", "r1"), ("rack", "r2")]);
        assert_eq!(
            reject(&two, &wanting(&[("aggregate_instance_extra_specs:rack", "r2")])),
            None
        );
    }
}
