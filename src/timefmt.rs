//! Event times as text: RFC 3339 (`2024-01-02T14:30:00.25Z`) or integer nanoseconds.

use tradeflow_operators::Ts;

/// Days from 1970-01-01 to a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Parses integer nanoseconds since the epoch, or an RFC 3339 date-time with `Z` or an offset.
pub fn parse_ts(text: &str) -> Result<Ts, String> {
    let text = text.trim();
    if let Ok(ns) = text.parse::<i64>() {
        return Ok(ns);
    }
    let bad = || format!("`{text}` is not a time: use integer nanoseconds or RFC 3339 like 2024-01-02T14:30:00Z");
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| text.get(r).and_then(|s| s.parse::<i64>().ok()).ok_or_else(bad);
    let (y, mo, d, h, mi, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    let mut rest = &text[19..];
    let mut frac_ns = 0i64;
    if let Some(f) = rest.strip_prefix('.') {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return Err(bad());
        }
        frac_ns = f[..digits].parse::<i64>().map_err(|_| bad())? * 10i64.pow(9 - digits as u32);
        rest = &f[digits..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && o.get(3..4) == Some(":") => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let part = |r: std::ops::Range<usize>| o.get(r).and_then(|p| p.parse::<i64>().ok()).ok_or_else(bad);
            let (hh, mm) = (part(1..3)?, part(4..6)?);
            if hh > 23 || mm > 59 {
                return Err(bad());
            }
            sign * (hh * 3600 + mm * 60)
        }
        _ => return Err(bad()),
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_s;
    secs.checked_mul(1_000_000_000).and_then(|ns| ns.checked_add(frac_ns)).ok_or_else(bad)
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn format_ts(ts: Ts) -> String {
    let secs = ts.div_euclid(1_000_000_000);
    let ms = ts.rem_euclid(1_000_000_000) / 1_000_000;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", sod / 3600, sod / 60 % 60, sod % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_instants() {
        assert_eq!(parse_ts("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_ts("2024-01-02T14:30:00Z"), Ok(1_704_205_800_000_000_000));
        assert_eq!(parse_ts("2024-01-02T15:30:00+01:00"), Ok(1_704_205_800_000_000_000));
        assert_eq!(parse_ts("2024-01-02T14:30:00.25Z"), Ok(1_704_205_800_250_000_000));
        assert_eq!(parse_ts("17"), Ok(17));
        assert_eq!(format_ts(1_704_205_800_250_000_000), "2024-01-02T14:30:00.250Z");
        assert!(parse_ts("2024-13-02T14:30:00Z").is_err());
        assert!(parse_ts("yesterday").unwrap_err().contains("RFC 3339"));
        // Regression: multi-byte text where an offset is expected must not panic.
        assert!(parse_ts("2024-01-02T14:30:00+0\u{e9}00").is_err());
        assert!(parse_ts("2024-01-02T14:30:0\u{e9}Z").is_err());
        assert!(parse_ts("9999-12-31T23:59:59Z").is_err(), "beyond the range of i64 nanoseconds");
    }
}
