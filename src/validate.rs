//! Input rules shared by the forms, the issuers and the guestbook.
//!
//! Names and messages are text other people read (on pages, in terminals, on tickets and
//! in certificates), so what one visitor types must not hide, reorder or smear the text
//! around it. Invisible characters (zero-width spaces and joiners, the BOM, the soft
//! hyphen, direction marks, tag characters and other format characters) are removed, since
//! they mostly arrive by copy and paste; line breaks, control characters, direction
//! overrides and towers of combining marks are refused with a reason.
//!
//! This file names no `crate::` path: the fuzz targets in `fuzz/` compile it on its own.

use serde::de::DeserializeOwned;
use unicode_general_category::{GeneralCategory, get_general_category};

/// Parse an `application/x-www-form-urlencoded` body strictly: invalid UTF-8 anywhere, raw
/// or percent-encoded, is an error rather than a silent replacement character, and so is a
/// shape that does not fit `T` (a duplicate field, say). The error is a sentence to show.
pub fn form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, &'static str> {
    const BAD_UTF8: &str = "The form data is not valid UTF-8 text.";
    std::str::from_utf8(bytes).map_err(|_| BAD_UTF8)?;
    for pair in bytes.split(|b| *b == b'&') {
        let plus_fixed: Vec<u8> = pair.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
        percent_encoding::percent_decode(&plus_fixed)
            .decode_utf8()
            .map_err(|_| BAD_UTF8)?;
    }
    serde_urlencoded::from_bytes(bytes).map_err(|_| "The form data has an unexpected shape.")
}

/// Most combining marks one character may carry (Vietnamese needs 2, Tibetan stacks 3 or 4).
pub const MAX_MARKS: usize = 4;

/// Characters that reorder text on screen; a name or message carrying them can spoof others.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing themselves: format characters (Unicode category Cf, e.g.
/// U+200B, U+200D, U+FEFF, U+00AD, U+200E/U+200F, U+061C, U+2060, tags) other than the
/// direction controls, and the Hangul fillers that render as blank letters.
pub fn is_invisible(c: char) -> bool {
    (get_general_category(c) == GeneralCategory::Format && !is_bidi_control(c))
        || matches!(c, '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}')
}

/// Control characters and the Unicode line and paragraph separators: they break lines or
/// drive terminals.
fn is_break_or_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

fn is_mark(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::NonspacingMark | GeneralCategory::SpacingMark | GeneralCategory::EnclosingMark
    )
}

/// Whether `s` starts with a combining mark or stacks more than [`MAX_MARKS`] on one character.
fn marks_pile_up(s: &str) -> bool {
    if s.chars().next().is_some_and(is_mark) {
        return true;
    }
    let mut run = 0;
    for c in s.chars() {
        run = if is_mark(c) { run + 1 } else { 0 };
        if run > MAX_MARKS {
            return true;
        }
    }
    false
}

/// Why a piece of text is refused, worded for `what` ("Your name", "Your message").
fn text_rules(text: &str, what: &str) -> Result<(), String> {
    if text.chars().any(is_break_or_control) {
        return Err(format!(
            "{what} cannot contain control characters such as tabs, escape codes or line breaks."
        ));
    }
    if text.chars().any(is_bidi_control) {
        return Err(format!("{what} cannot contain text-direction override characters."));
    }
    if marks_pile_up(text) {
        return Err(format!(
            "{what} cannot start with an accent or stack more than {MAX_MARKS} accents on one letter."
        ));
    }
    Ok(())
}

/// Drop invisible characters, then trim.
fn tidy(raw: &str) -> String {
    raw.chars()
        .filter(|c| !is_invisible(*c))
        .collect::<String>()
        .trim()
        .to_string()
}

/// A visitor's name: invisible characters removed, trimmed, 1-64 characters of any script,
/// no control characters, line breaks, direction overrides or piled-up accents.
pub fn name(raw: &str) -> Result<String, String> {
    let name = tidy(raw);
    if name.is_empty() {
        return Err("Please enter your name.".into());
    }
    if name.chars().count() > 64 {
        return Err("Your name can be at most 64 characters long.".into());
    }
    text_rules(&name, "Your name")?;
    Ok(name)
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

/// A guestbook message: invisible characters removed, trimmed, 1-280 characters of any
/// script, no control characters (escape codes, tabs, line breaks), direction overrides or
/// piled-up accents.
pub fn message(raw: &str) -> Result<String, String> {
    let message = tidy(raw);
    if message.is_empty() {
        return Err("Please write a message of 1 to 280 characters.".into());
    }
    text_rules(&message, "Your message")?;
    if message.chars().count() > MESSAGE_MAX {
        return Err("Your message can be at most 280 characters long.".into());
    }
    Ok(message)
}

/// Stored text made safe for a terminal or a page: control, format, invisible and
/// direction characters, line separators, and combining marks past [`MAX_MARKS`] (or
/// leading) become visible `\u{..}` escapes, so nothing can move a cursor, change colours,
/// hide, or reorder the text around it. Text that passed [`name`] or [`message`] comes back
/// unchanged.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = 0;
    let mut first = true;
    for c in s.chars() {
        run = if is_mark(c) { run + 1 } else { 0 };
        let hidden =
            is_break_or_control(c) || is_bidi_control(c) || is_invisible(c) || run > MAX_MARKS || (first && run > 0);
        if hidden {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
        first = false;
    }
    out
}

/// Whether `s` shows as itself: nothing in it [`visible`] would escape.
pub fn is_plain(s: &str) -> bool {
    visible(s) == s
}

/// The first word of a name: what the wall and the guestbook show unless told otherwise.
/// A name without spaces (李小龍, a single emoji) is its own first name.
pub fn first_name(name: &str) -> String {
    name.split_whitespace().next().unwrap_or_default().to_string()
}

/// Most characters a guestbook display name may have, like a name on the form.
pub const DISPLAY_NAME_MAX: usize = 64;

/// The name a guestbook signer chooses to show: the same rules as [`name`] (invisible
/// characters removed, 1-64 characters, no control, direction or piled-up accents), and
/// no `@`, because the guestbook never shows an email. Empty means "use my first name"
/// (`None`).
pub fn display_name(raw: &str) -> Result<Option<String>, String> {
    let name = tidy(raw);
    if name.is_empty() {
        return Ok(None);
    }
    if name.chars().count() > DISPLAY_NAME_MAX {
        return Err("Your display name can be at most 64 characters long.".into());
    }
    text_rules(&name, "Your display name")?;
    if name.contains('@') {
        return Err("Your display name cannot contain @: the guestbook never shows email addresses.".into());
    }
    Ok(Some(name))
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
    fn invisible_characters_are_removed_and_breaks_refused() {
        for (raw, want) in [
            ("\u{200B}Ada\u{200B} ", "Ada"),
            ("\u{FEFF}Ada", "Ada"),
            ("Lo\u{00AD}ve\u{00AD}lace", "Lovelace"),
            ("\u{200E}Ada\u{200F}\u{061C}", "Ada"),
            ("A\u{200C}d\u{200D}a\u{2060}", "Ada"),
            ("Ada\u{E0041}\u{E007F}", "Ada"),
            ("\u{3164}Ada", "Ada"),
        ] {
            assert_eq!(name(raw).unwrap(), want, "{raw:?}");
            assert_eq!(message(raw).unwrap(), want, "{raw:?}");
        }
        assert_eq!(name("\u{200B}\u{FEFF} ").unwrap_err(), "Please enter your name.");
        for bad in ["Ada\u{2028}Eve", "Ada\u{2029}Eve", "Ada\u{85}Eve", "a\u{1b}[2J"] {
            assert!(name(bad).unwrap_err().contains("line breaks"), "{bad:?}");
            assert!(message(bad).unwrap_err().contains("line breaks"), "{bad:?}");
        }
        assert!(name("\u{2066}Ada").unwrap_err().contains("direction"));
    }

    #[test]
    fn accents_are_capped_per_letter() {
        // Vietnamese, decomposed: two marks on one letter.
        assert_eq!(name("Nguye\u{302}\u{303}n").unwrap(), "Nguye\u{302}\u{303}n");
        // Tibetan stacks.
        assert!(name("བསྒྲུབས").is_ok());
        assert!(name(&format!("Z{}algo", "\u{301}".repeat(MAX_MARKS))).is_ok());
        let zalgo = format!("Z{}algo", "\u{301}".repeat(MAX_MARKS + 1));
        assert!(name(&zalgo).unwrap_err().contains("accents"));
        assert!(message(&zalgo).unwrap_err().contains("accents"));
        assert!(name("\u{301}Ada").unwrap_err().contains("accent"));
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
        assert!(message("a\u{2029}b").unwrap_err().contains("line breaks"));
    }

    #[test]
    fn visible_escapes_controls_and_bidi() {
        assert_eq!(visible("a\u{1b}[2J\u{7}b"), "a\\u{1b}[2J\\u{7}b");
        assert_eq!(visible("x\u{202e}y\u{2066}"), "x\\u{202e}y\\u{2066}");
        assert_eq!(visible("Zoë 李 <b>"), "Zoë 李 <b>");
        assert_eq!(visible("\u{9b}"), "\\u{9b}");
        assert_eq!(
            visible("a\u{200b}b\u{feff}\u{ad}\u{200e}\u{2028}\u{2029}"),
            "a\\u{200b}b\\u{feff}\\u{ad}\\u{200e}\\u{2028}\\u{2029}"
        );
        let zalgo = format!("Z{}", "\u{301}".repeat(MAX_MARKS + 2));
        assert_eq!(
            visible(&zalgo),
            format!("Z{}\\u{{301}}\\u{{301}}", "\u{301}".repeat(MAX_MARKS))
        );
        assert_eq!(visible("\u{301}a"), "\\u{301}a");
        assert!(is_plain("Zoë 李 <b>") && !is_plain("a\u{200b}"));
    }
}
