//! Command-line flags of the emulator and the small parsers they need (durations, rates).

use clap::{Parser, ValueEnum};
use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// A local server that speaks the 1Fichier API v1 (plus its upload node and download host).
#[derive(Debug, Clone, Parser)]
#[command(name = "fichier-emulator", version, about)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8741")]
    pub listen: SocketAddr,

    /// API key of the (single) customer account; repeatable.
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_keys: Vec<String>,

    /// A key that authenticates but belongs to a free account (answers #200); repeatable.
    #[arg(long = "non-customer-key", value_name = "KEY")]
    pub non_customer_keys: Vec<String>,

    /// Folder holding the account (metadata + file blobs); created if missing.
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,

    /// Token bucket on /v1 calls per API key (per IP without key), e.g. "2/s", "100/m".
    #[arg(long, value_name = "N/s", value_parser = parse_rate)]
    pub rate_limit: Option<f64>,

    /// Bucket size for --rate-limit (default: the per-second rate, at least 1).
    #[arg(long, value_name = "N")]
    pub rate_burst: Option<f64>,

    /// How long an IP stays locked after exceeding --rate-limit.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub flood_lock: Duration,

    /// Minimum time between two listings of the same folder by file/ls (or by folder/ls); 0 = off.
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
    pub list_interval: Duration,

    /// Maximum entries a listing returns (the real service caps at 5000); 0 = no cap.
    #[arg(long, value_name = "N", default_value_t = 5000)]
    pub list_max: usize,

    /// Share of requests (0..1) that get a random fault (500/502/503, dropped connection, end.pl "Please wait").
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub fault_rate: f64,

    /// Milliseconds added to every request.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency: u64,

    /// `host[:port]` put in get_upload_server and download-token URLs (default: the bound address).
    #[arg(long, value_name = "NAME[:PORT]")]
    pub public_host: Option<String>,

    /// Scheme of download-token URLs.
    #[arg(long, value_enum, default_value = "http")]
    pub public_scheme: Scheme,

    /// Account size reported by user/info (bytes).
    #[arg(long, value_name = "BYTES", default_value_t = 100_000_000_000_000)]
    pub quota: u64,

    /// Accept 0-byte uploads (the real service is believed to refuse them).
    #[arg(long)]
    pub allow_empty_files: bool,

    /// Seconds added to the server's clock in the dates it stamps (negative: behind), to test
    /// clients against a server whose clock disagrees with theirs.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    pub clock_skew: i64,

    /// Lifetime of download tokens.
    #[arg(long, hide = true, default_value = "5m", value_parser = parse_duration)]
    pub token_ttl: Duration,

    /// Lifetime of end.pl upload reports.
    #[arg(long, hide = true, default_value = "5m", value_parser = parse_duration)]
    pub report_ttl: Duration,
}

/// Scheme of the URLs the emulator hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Parses "500ms", "30s", "5m", "1h" or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?} (try 500ms, 30s, 5m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown duration unit {unit:?} in {text:?}")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

/// Parses "2/s", "120/m", "3600/h" or a bare number (per second) into calls per second.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let (number, per) = text.split_once('/').unwrap_or((text, "s"));
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid rate {text:?} (try 2/s)"))?;
    let per_second = match per.trim() {
        "s" => value,
        "m" => value / 60.0,
        "h" => value / 3600.0,
        other => return Err(format!("unknown rate unit {other:?} in {text:?}")),
    };
    if per_second > 0.0 && per_second.is_finite() {
        Ok(per_second)
    } else {
        Err(format!("rate must be positive: {text:?}"))
    }
}

fn parse_probability(text: &str) -> Result<f64, String> {
    let p: f64 = text
        .parse()
        .map_err(|_| format!("invalid probability {text:?}"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("probability must be within 0..1: {text:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("3 days").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("2/s"), Ok(2.0));
        assert_eq!(parse_rate("120/m"), Ok(2.0));
        assert_eq!(parse_rate("3"), Ok(3.0));
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("x/s").is_err());
    }
}
