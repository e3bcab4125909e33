//! Input rules shared by the forms, the issuers and the guestbook.

/// Characters that reorder text on screen; a name or message carrying them can spoof others.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}')
}

/// A visitor's name: trimmed, 1-64 characters of any script, no control characters.
pub fn name(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("Please enter your name.");
    }
    if name.chars().count() > 64 {
        return Err("Your name can be at most 64 characters long.");
    }
    if name.chars().any(|c| c.is_control()) {
        return Err("Your name cannot contain control characters such as tabs or line breaks.");
    }
    if name.chars().any(is_bidi_control) {
        return Err("Your name cannot contain text-direction override characters.");
    }
    Ok(name.to_string())
}

/// A bare email address (`a@example.org`, never `A <a@example.org>`), ASCII because an
/// X.509 rfc822Name is IA5String. Returns the address as typed (trimmed) and its
/// lowercase form, which is what duplicates are compared by.
pub fn email(raw: &str) -> Result<(String, String), &'static str> {
    const MSG: &str = "Please enter a plain email address such as ada@example.org.";
    let email = raw.trim();
    if email.is_empty() {
        return Err("Please enter your email address.");
    }
    if email.len() > 254 {
        return Err("That email address is too long.");
    }
    if !email.is_ascii() {
        return Err("Email addresses in certificates must use ASCII characters only.");
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(MSG);
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !(local_ok && domain_ok) {
        return Err(MSG);
    }
    Ok((email.to_string(), email.to_ascii_lowercase()))
}

/// Most characters a guestbook message may have, after trimming.
pub const MESSAGE_MAX: usize = 280;

/// A guestbook message: trimmed, 1-280 characters of any script, no control characters
/// (escape codes, tabs, line breaks) and no text-direction overrides.
pub fn message(raw: &str) -> Result<String, &'static str> {
    let message = raw.trim();
    if message.is_empty() {
        return Err("Please write a message of 1 to 280 characters.");
    }
    if message.chars().any(|c| c.is_control()) {
        return Err("Your message cannot contain control characters such as escape codes, tabs or line breaks.");
    }
    if message.chars().any(is_bidi_control) {
        return Err("Your message cannot contain text-direction override characters.");
    }
    if message.chars().count() > MESSAGE_MAX {
        return Err("Your message can be at most 280 characters long.");
    }
    Ok(message.to_string())
}

/// Stored text made safe for a terminal or a page: control characters and bidi
/// overrides become visible `\u{..}` escapes, so nothing can move a cursor, change
/// colours or reorder the text around it.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || is_bidi_control(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// The first word of a name: what the wall and the guestbook show unless told otherwise.
/// A name without spaces (李小龍, a single emoji) is its own first name.
pub fn first_name(name: &str) -> String {
    name.split_whitespace().next().unwrap_or_default().to_string()
}

/// Most characters a guestbook display name may have, like a name on the form.
pub const DISPLAY_NAME_MAX: usize = 64;

/// The name a guestbook signer chooses to show: trimmed, 1-64 characters, no control or
/// direction characters, and no `@`, because the guestbook never shows an email. Empty
/// means "use my first name" (`None`).
pub fn display_name(raw: &str) -> Result<Option<String>, &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        return Ok(None);
    }
    if name.chars().count() > DISPLAY_NAME_MAX {
        return Err("Your display name can be at most 64 characters long.");
    }
    if name.chars().any(|c| c.is_control()) {
        return Err("Your display name cannot contain control characters such as tabs or line breaks.");
    }
    if name.chars().any(is_bidi_control) {
        return Err("Your display name cannot contain text-direction override characters.");
    }
    if name.contains('@') {
        return Err("Your display name cannot contain @: the guestbook never shows email addresses.");
    }
    Ok(Some(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name("  Ada Lovelace ").unwrap(), "Ada Lovelace");
        assert_eq!(name("Σωκράτης").unwrap(), "Σωκράτης");
        assert_eq!(name("李小龍").unwrap(), "李小龍");
        assert_eq!(name(&"é".repeat(64)).unwrap().chars().count(), 64);
        assert!(name(&"é".repeat(65)).is_err());
        assert!(name("   ").is_err());
        assert!(name("a\tb").is_err());
        assert!(name("evil\u{202E}txt").is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(
            email(" Ada@Example.org ").unwrap(),
            ("Ada@Example.org".into(), "ada@example.org".into())
        );
        for bad in [
            "A <a@b.c>",
            "a@b",
            "a b@c.de",
            "@b.de",
            "a@",
            "a..b@c.de",
            "ä@b.de",
            "a@-b.de",
            "a@b.de>",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn first_and_display_names() {
        assert_eq!(first_name("  Ada   Lovelace "), "Ada");
        assert_eq!(first_name("李小龍"), "李小龍");
        assert_eq!(first_name("محمد علي"), "محمد");
        assert_eq!(first_name("🦀 Ferris"), "🦀");
        assert_eq!(display_name("  "), Ok(None));
        assert_eq!(display_name(" Ada L. "), Ok(Some("Ada L.".into())));
        assert_eq!(display_name(&"é".repeat(64)).unwrap().unwrap().chars().count(), 64);
        assert!(display_name(&"é".repeat(65)).unwrap_err().contains("64"));
        assert!(display_name("ada@example.org").unwrap_err().contains("@"));
        assert!(display_name("a\tb").unwrap_err().contains("control"));
        assert!(display_name("a\u{202e}b").unwrap_err().contains("direction"));
    }

    #[test]
    fn messages() {
        assert_eq!(
            message("  Grüße aus 東京 <b>hi</b> ").unwrap(),
            "Grüße aus 東京 <b>hi</b>"
        );
        assert_eq!(message(&"é".repeat(280)).unwrap().chars().count(), 280);
        assert!(message(&"é".repeat(281)).unwrap_err().contains("280"));
        assert!(message(" \t ").unwrap_err().contains("1 to 280"));
        assert!(message("\u{1b}[31mred").unwrap_err().contains("control"));
        assert!(message("a\nb").unwrap_err().contains("control"));
        assert!(message("abc\u{202E}txt").unwrap_err().contains("direction"));
    }

    #[test]
    fn visible_escapes_controls_and_bidi() {
        assert_eq!(visible("a\u{1b}[2J\u{7}b"), "a\\u{1b}[2J\\u{7}b");
        assert_eq!(visible("x\u{202e}y\u{2066}"), "x\\u{202e}y\\u{2066}");
        assert_eq!(visible("Zoë 李 <b>"), "Zoë 李 <b>");
        assert_eq!(visible("\u{9b}"), "\\u{9b}");
    }
}
