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

/// How long ago, for screens people glance at: `just now`, `1 min ago`, `3 h ago`,
/// `2 days ago`. `assets/wall.js` keeps the same words up to date in the browser.
pub fn ago(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        86_400..172_800 => "1 day ago".into(),
        _ => format!("{} days ago", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ago_in_words() {
        use super::ago;
        assert_eq!(ago(-5), "just now");
        assert_eq!(ago(59), "just now");
        assert_eq!(ago(60), "1 min ago");
        assert_eq!(ago(150), "2 min ago");
        assert_eq!(ago(3599), "59 min ago");
        assert_eq!(ago(3600), "1 h ago");
        assert_eq!(ago(86_399), "23 h ago");
        assert_eq!(ago(86_400), "1 day ago");
        assert_eq!(ago(3 * 86_400), "3 days ago");
    }

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
