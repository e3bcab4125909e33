//! Maps an issued certificate to the printer crate's ticket. Pure: no I/O.

use certstamp_printer::{Ticket, fingerprint_hex};

use crate::clock::human_time;
use crate::config::Conference;
use crate::pki::CertSummary;

/// The line that says what the visitor holds.
pub const KIND_LINE: &str = "X.509 client certificate - ECDSA P-256";

/// "Amsterdam · 23–26 March 2026" style subtitle.
pub fn subtitle(conf: &Conference) -> String {
    let (s, e) = (conf.start, conf.end);
    let dates = if s == e {
        format!("{} {} {}", s.day(), s.month(), s.year())
    } else if s.month() == e.month() && s.year() == e.year() {
        format!("{}\u{2013}{} {} {}", s.day(), e.day(), s.month(), s.year())
    } else {
        format!(
            "{} {} \u{2013} {} {} {}",
            s.day(),
            s.month(),
            e.day(),
            e.month(),
            e.year()
        )
    };
    format!("{} \u{b7} {}", conf.city, dates)
}

/// The sample ticket (`certstamp printer test`, the console's test button) with this
/// kiosk's conference and footer; its QR code leads to the kiosk's form.
pub fn sample(settings: &crate::config::Settings) -> Ticket {
    let mut t = certstamp_printer::sample_ticket(&format!("{}/", settings.public_url));
    t.title = settings.conference.name.clone();
    t.subtitle = subtitle(&settings.conference);
    t.footer = settings.printer.footer.clone();
    t
}

/// The ticket for one certificate; `page_url` goes into the QR code.
pub fn ticket_for(conf: &Conference, cert: &CertSummary, name: &str, page_url: &str, footer: &str) -> Ticket {
    Ticket {
        title: conf.name.clone(),
        subtitle: subtitle(conf),
        seal_seed: cert.fingerprint,
        name: name.to_string(),
        kind_line: KIND_LINE.into(),
        fields: vec![
            ("Serial".into(), cert.serial.clone()),
            ("Fingerprint".into(), fingerprint_hex(&cert.fingerprint)),
            ("Issuer".into(), cert.issuer_cn.clone()),
            ("Valid from".into(), human_time(cert.not_before)),
            ("Valid to".into(), human_time(cert.not_after)),
        ],
        qr_payload: page_url.to_string(),
        qr_caption: "Scan to download your certificate".into(),
        footer: footer.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn maps_every_field() {
        let conf = Conference {
            name: "KubeCon EU".into(),
            slug: "kc".into(),
            city: "Amsterdam".into(),
            start: date!(2026 - 03 - 23),
            end: date!(2026 - 03 - 26),
            leaf_validity_days: 1,
            retention_days: 1,
        };
        assert_eq!(subtitle(&conf), "Amsterdam · 23–26 March 2026");
        let cert = CertSummary {
            subject: "CN=Ada".into(),
            common_name: "Ada".into(),
            issuer: "CN=I".into(),
            issuer_cn: "I".into(),
            serial: "01:02".into(),
            fingerprint: [7; 32],
            not_before: time::OffsetDateTime::UNIX_EPOCH,
            not_after: time::OffsetDateTime::UNIX_EPOCH,
            emails: vec![],
            is_ca: false,
        };
        let t = ticket_for(&conf, &cert, "Ada", "http://x/c/t", "bye");
        assert_eq!(t.seal_seed, [7; 32]);
        assert_eq!(t.qr_payload, "http://x/c/t");
        assert_eq!(t.fields[0], ("Serial".into(), "01:02".into()));
        assert_eq!(t.fields[3].1, "1970-01-01 00:00 UTC");
    }
}
