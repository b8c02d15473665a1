//! Nova's extra-spec operators (`nova/scheduler/filters/extra_specs_ops.py`): how a wanted
//! value such as `>= 4`, `<in> ssd` or `<or> a <or> b` matches a host's value. A wanted value
//! that does not start with an operator must equal the host's value exactly.

/// Whether the host's `value` satisfies `wanted`.
pub fn matches(value: &str, wanted: &str) -> bool {
    let mut words = wanted.split_whitespace();
    let Some(op) = words.next() else {
        return value == wanted;
    };
    let rest: Vec<&str> = words.collect();
    let num = |s: &str| s.parse::<f64>().ok();
    let numeric = |cmp: fn(f64, f64) -> bool| match (num(value), rest.first().and_then(|w| num(w))) {
        (Some(v), Some(w)) => cmp(v, w),
        // Nova's float() would fail on these; nothing matches.
        _ => false,
    };
    let text = |cmp: fn(&str, &str) -> bool| rest.first().is_some_and(|w| cmp(value, w));
    match op {
        "=" | ">=" => numeric(|v, w| v >= w),
        "==" => numeric(|v, w| v == w),
        "!=" => numeric(|v, w| v != w),
        "<=" => numeric(|v, w| v <= w),
        "s==" => text(|v, w| v == w),
        "s!=" => text(|v, w| v != w),
        "s<" => text(|v, w| v < w),
        "s<=" => text(|v, w| v <= w),
        "s>" => text(|v, w| v > w),
        "s>=" => text(|v, w| v >= w),
        "<in>" => rest.first().is_some_and(|w| value.contains(w)),
        "<all-in>" => !rest.is_empty() && rest.iter().all(|w| value.contains(w)),
        // `<or> a <or> b`: the words at even places after the first are the choices.
        "<or>" => rest.iter().step_by(2).any(|w| *w == value),
        _ => value == wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn operators_as_nova_reads_them() {
        assert!(matches("true", "true"));
        assert!(!matches("True", "true"));
        assert!(matches("4", ">= 2"));
        assert!(matches("4", "= 4"), "'=' is at least, for numbers");
        assert!(matches("4", "== 4.0"));
        assert!(!matches("4", "!= 4"));
        assert!(matches("2", "<= 3"));
        assert!(!matches("many", ">= 2"));
        assert!(matches("abc", "s== abc"));
        assert!(matches("abc", "s< abd"));
        assert!(matches("fast-ssd", "<in> ssd"));
        assert!(matches("a b c", "<all-in> a c"));
        assert!(!matches("a b", "<all-in> a c"));
        assert!(matches("b", "<or> a <or> b"));
        assert!(!matches("c", "<or> a <or> b"));
        assert!(!matches("a", "<or>"));
    }
}
