//! Time as the kiosk stores it (Unix seconds) and shows it (`2026-11-26 14:03 UTC`).

/// Seconds since the Unix epoch.
pub fn now_ts() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Human time for pages and tickets: `2026-11-26 14:03 UTC`.
pub fn human_time(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.to_offset(time::UtcOffset::UTC).format(f).unwrap_or_default()
}

/// [`human_time`] of a stored Unix timestamp; empty when out of range.
pub fn human_ts(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .map(human_time)
        .unwrap_or_default()
}

/// [`human_ts`] without the date when `ts` falls on the same UTC day as `now`: `14:03 UTC`.
pub fn short_ts(ts: i64, now: i64) -> String {
    let day = |t: i64| t.div_euclid(86_400);
    let full = human_ts(ts);
    if day(ts) == day(now) && full.len() > 11 {
        full[11..].to_string()
    } else {
        full
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_times_are_utc_minutes() {
        assert_eq!(super::human_ts(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::human_ts(1_795_000_000), "2026-11-18 11:06 UTC");
        assert_eq!(super::human_ts(i64::MAX), "");
        assert_eq!(super::short_ts(1_795_000_000, 1_795_000_000 + 3600), "11:06 UTC");
        assert_eq!(
            super::short_ts(1_795_000_000, 1_795_000_000 + 86_400),
            "2026-11-18 11:06 UTC"
        );
    }
}
