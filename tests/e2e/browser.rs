//! Browser tests: Debian's Chromium, driven through chromedriver (WebDriver), uses the
//! pages the way people do: typing, clicking, following redirects, downloading, reading
//! the QR code off the screen. Screenshots land in `target/e2e/<scenario>/`.
//!
//! The harness: `driver` (one shared chromedriver), `session` (a Chromium per test),
//! `axe` (accessibility checks) and `flows` (steps several scenarios share). The other
//! modules are scenarios, numbered as in issue 12.

mod axe;
mod driver;
mod flows;
mod session;

pub(crate) use driver::{HEADLESS, chromium};
pub(crate) use session::{Browser, Window};

mod every_page;
mod form_errors;
mod guestbook_mtls;
mod printer_pick;
mod screens;
mod staff_console;
mod visitor_phone;
mod wall_live;
