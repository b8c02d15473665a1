//! ISO 8601 times in queries (`changes-since`), read as Nova reads them: its schema's
//! `date-time` format is whatever Python's `iso8601.parse_date` accepts, so a date alone,
//! the basic form without separators and a missing zone (UTC) are all times, and
//! `2011/01/01` is not.
//!
//! Only parsing: what a time means for a list is the service's business.

use chrono::{NaiveDate, NaiveDateTime};

/// A cursor over the ASCII digits and marks of a time.
struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn done(&self) -> bool {
        self.at == self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    /// Takes `c` if it is next.
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.at += 1;
        }
        hit
    }

    /// Takes `min..=max` digits (as many as there are, up to `max`), or nothing if there are
    /// fewer than `min`.
    fn digits(&mut self, min: usize, max: usize) -> Option<(u32, usize)> {
        let n = self.s[self.at..]
            .iter()
            .take(max)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if n < min {
            return None;
        }
        let text = std::str::from_utf8(&self.s[self.at..self.at + n]).ok()?;
        self.at += n;
        Some((text.parse().ok()?, n))
    }

    /// Tries `f`, putting the cursor back when it takes nothing.
    fn attempt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        let at = self.at;
        let r = f(self);
        if r.is_none() {
            self.at = at;
        }
        r
    }
}

/// `s` as microseconds since the epoch, or None when it is no time Nova would take.
pub(crate) fn parse_micros(s: &str) -> Option<i64> {
    let mut c = Cursor { s: s.as_bytes(), at: 0 };
    let (year, _) = c.digits(4, 4)?;
    let (mut month, mut day) = (1, 1);
    let (mut hour, mut minute, mut second, mut micros) = (0, 0, 0, 0);
    let mut offset_minutes: i64 = 0;
    if !c.done() {
        month = if c.eat(b'-') {
            c.digits(1, 2)?.0
        } else {
            // YYYYMM alone is not a date (it reads as a year and a half).
            let (m, _) = c.digits(2, 2)?;
            if c.done() {
                return None;
            }
            m
        };
        if !c.done() {
            day = if c.eat(b'-') {
                c.digits(1, 2)?.0
            } else {
                c.digits(2, 2)?.0
            };
            if !c.done() {
                if !(c.eat(b'T') || c.eat(b' ')) {
                    return None;
                }
                hour = c.digits(2, 2)?.0;
                if let Some(m) = c.attempt(|c| {
                    c.eat(b':');
                    c.digits(2, 2).map(|d| d.0)
                }) {
                    minute = m;
                }
                if let Some((sec, frac)) = c.attempt(|c| {
                    c.eat(b':');
                    let (sec, _) = c.digits(1, 2)?;
                    let frac = c.attempt(|c| {
                        if !(c.eat(b'.') || c.eat(b',')) {
                            return None;
                        }
                        c.digits_fraction()
                    });
                    Some((sec, frac.unwrap_or(0)))
                }) {
                    second = sec;
                    micros = frac;
                }
                if c.eat(b'Z') {
                } else if let Some(sign) = c.peek().filter(|b| *b == b'+' || *b == b'-') {
                    c.at += 1;
                    let (h, _) = c.digits(2, 2)?;
                    c.eat(b':');
                    let m = c.digits(2, 2).map(|d| d.0).unwrap_or(0);
                    offset_minutes = i64::from(h * 60 + m);
                    if offset_minutes >= 24 * 60 {
                        return None;
                    }
                    if sign == b'-' {
                        offset_minutes = -offset_minutes;
                    }
                }
            }
        }
    }
    if !c.done() || year < 1 {
        return None;
    }
    let t: NaiveDateTime =
        NaiveDate::from_ymd_opt(year as i32, month, day)?.and_hms_micro_opt(hour, minute, second, micros)?;
    Some(t.and_utc().timestamp_micros() - offset_minutes * 60_000_000)
}

impl Cursor<'_> {
    /// The digits of a decimal fraction of a second, as microseconds (further digits are
    /// dropped, as Python drops them).
    fn digits_fraction(&mut self) -> Option<u32> {
        let n = self.s[self.at..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let mut text = String::from_utf8_lossy(&self.s[self.at..self.at + n.min(6)]).into_owned();
        self.at += n;
        while text.len() < 6 {
            text.push('0');
        }
        text.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::parse_micros;

    const JAN_1_2011: i64 = 1_293_840_000_000_000;

    #[test]
    fn the_forms_nova_takes() {
        for (s, want) in [
            ("2011", JAN_1_2011),
            ("2011-01", JAN_1_2011),
            ("2011-01-01", JAN_1_2011),
            ("20110101", JAN_1_2011),
            ("2011-1-1", JAN_1_2011),
            ("2011-01-01T00:00:00Z", JAN_1_2011),
            ("2011-01-01 00:00:00", JAN_1_2011),
            ("2011-01-01T01:00:00+01:00", JAN_1_2011),
            ("2011-01-01T01:00:00+0100", JAN_1_2011),
            ("2011-01-01T01:00+01", JAN_1_2011),
            ("2010-12-31T23:00:00-01:00", JAN_1_2011),
            ("20110101T000000Z", JAN_1_2011),
            ("2011-01-01T00:00:00.25", JAN_1_2011 + 250_000),
            ("2011-01-01T00:00:00,000001Z", JAN_1_2011 + 1),
            ("2011-01-01T00:00:00.1234567", JAN_1_2011 + 123_456),
            ("2011-01-01T12:34", JAN_1_2011 + (12 * 3600 + 34 * 60) * 1_000_000),
            // Python's reading of a one-digit minute: it is a second.
            ("2011-01-01T12:3", JAN_1_2011 + (12 * 3600 + 3) * 1_000_000),
            ("2051-01-01T12:34:00Z", 2_556_189_240_000_000),
        ] {
            assert_eq!(parse_micros(s), Some(want), "{s}");
        }
    }

    #[test]
    fn what_is_not_a_time() {
        for s in [
            "",
            "2011/01/01",
            "201101",
            "11-01-01",
            "2011-13-01",
            "2011-02-30",
            "2011-01-01T24:00:00",
            "2011-01-01T23:60",
            "2011-01-01T23:59:60",
            "2011-01-01T",
            "2011-01-01X00:00",
            "2011-01-01T00:00:00+24:00",
            "2011-01-01T00:00:00 UTC",
            "0000-01-01",
            "yesterday",
            "\u{0}",
            "２０１１-01-01",
        ] {
            assert_eq!(parse_micros(s), None, "{s:?}");
        }
    }
}
