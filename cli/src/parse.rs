//! Parsers of the values users type: durations (`5s`, `500ms`, `2m`, `1h`), sizes (`10G`), API
//! call rates, and `REMOTE:PATH` versus a local path. Owns their syntax and bounds; each returns a one-line reason instead of
//! panicking on absurd input (overflow, NaN, negative numbers).

use std::time::Duration;

/// The longest duration accepted anywhere (100 years): beyond it, timers overflow.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Bounds of an account's API call rate, in calls per second.
pub const MIN_RATE: f64 = 0.001;
pub const MAX_RATE: f64 = 10_000.0;

/// `(REMOTE, PATH)` when `arg` is `REMOTE:PATH` rather than a local path: something before the
/// first `:` that holds no path separator, and no file of that name exists. On Windows a single
/// letter before the `:` is a drive (`C:\Users`, `D:`), never a remote.
pub fn remote_and_path(arg: &str) -> Option<(&str, &str)> {
    let (name, rest) = arg.split_once(':')?;
    let separator = name.contains('/') || (cfg!(windows) && name.contains('\\'));
    let drive = cfg!(windows) && name.len() == 1 && name.as_bytes()[0].is_ascii_alphabetic();
    let local = name.is_empty() || separator || drive || std::path::Path::new(arg).exists();
    (!local).then_some((name, rest))
}

/// Splits `s` into its leading number (digits and dots) and the unit after it.
fn split_number(s: &str) -> (&str, &str) {
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    s.split_at(split)
}

/// Parses a duration such as `5s`, `500ms`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = split_number(s);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (try 5s, 500ms, 2m)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("'{s}' has an unknown unit (use ms, s, m or h)")),
    };
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        _ => Err(format!("'{s}' is too long (at most 100 years)")),
    }
}

/// Parses a size such as `10G`, `500M`, `64K` or a bare number of bytes (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s
        .trim()
        .trim_end_matches(['B', 'b'])
        .trim_end_matches(['i']);
    let (num, unit) = split_number(t);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (try 10G or 500M)"))?;
    let mult = match unit.to_ascii_uppercase().as_str() {
        "" => 1u64,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("'{s}' has an unknown unit (use K, M, G or T)")),
    };
    let bytes = n * mult as f64;
    // 2^64 is exactly representable; anything at or above it does not fit a u64.
    if !bytes.is_finite() || bytes >= 18_446_744_073_709_551_616.0 {
        return Err(format!("'{s}' is too large"));
    }
    Ok(bytes as u64)
}

/// Checks an API call rate (calls per second).
pub fn check_rate(rate: f64) -> Result<f64, String> {
    if rate.is_finite() && (MIN_RATE..=MAX_RATE).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!(
            "rate {rate} is out of range (calls per second, {MIN_RATE} to {MAX_RATE})"
        ))
    }
}

/// Parses an API call rate such as `1.8` (calls per second).
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("rate '{s}' is not a number of calls per second"))?;
    check_rate(rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn remotes_versus_local_paths() {
        assert_eq!(remote_and_path("demo:a/b"), Some(("demo", "a/b")));
        assert_eq!(remote_and_path("demo:"), Some(("demo", "")));
        assert_eq!(remote_and_path(":a"), None);
        assert_eq!(remote_and_path("./x:y"), None);
        assert_eq!(remote_and_path("/no/such:thing"), None);
        assert_eq!(remote_and_path("plain"), None);
        // A drive letter on Windows; a one-letter remote elsewhere.
        let drive = remote_and_path("Z:\\tmp\\x");
        assert_eq!(drive.is_none(), cfg!(windows), "{drive:?}");
    }

    #[test]
    fn examples() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("99999999999999999999s").is_err());
        assert!(parse_duration("1e400s").is_err());
        assert_eq!(parse_size("10G"), Ok(10 << 30));
        assert!(parse_size("99999999999999999999T").is_err());
        assert_eq!(parse_rate("1.8"), Ok(1.8));
        for bad in ["1e-20", "NaN", "-1", "0", "inf", "1e300"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn duration_never_panics(s in ".{0,40}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn numeric_durations_never_panic(num in "[0-9]{0,30}(\\.[0-9]{0,10})?", unit in "(|s|ms|m|h|x|e9)") {
            let s = format!("{num}{unit}");
            if let Ok(d) = parse_duration(&s) {
                prop_assert!(d <= MAX_DURATION);
            }
        }

        #[test]
        fn size_never_panics(s in ".{0,40}", num in "[0-9]{0,30}(\\.[0-9]{0,5})?", unit in "(|K|M|G|T|KiB|b|X)") {
            let _ = parse_size(&s);
            let _ = parse_size(&format!("{num}{unit}"));
        }

        #[test]
        fn rate_never_panics(s in ".{0,30}", x in proptest::num::f64::ANY) {
            let _ = parse_rate(&s);
            if let Ok(r) = check_rate(x) {
                prop_assert!(r.is_finite() && r > 0.0);
            }
        }
    }
}
