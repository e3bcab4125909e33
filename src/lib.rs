//! certstamp: a conference-booth kiosk that issues real X.509 client certificates
//! and prints stamped tickets. `main.rs` only wires; this crate holds the rest.
//!
//! Read the modules in this order for a tour of one visitor's path:
#![forbid(unsafe_code)]

/// The running kiosk: state shared by the web layer and the workers, and `serve`.
pub mod app;
/// The downloadable zip and the PKCS#12 inside it.
pub mod bundle;
/// Command line, environment (`CERTSTAMP_*`) and TOML configuration.
pub mod config;
/// The one error type, and how each variant maps to an HTTP status.
pub mod error;
/// The mTLS guestbook listener: client certificate checks, signing, its own small page.
pub mod guestbook;
/// The `Issuer` trait and its two backends: `local` (rcgen) and `cert_manager` (kube).
pub mod issuer;
/// Pure X.509 work: the booth root, conference intermediates, the visitor leaf profile, parsing.
pub mod pki;
/// QR codes as inline SVG paths and PNG.
pub mod qr;
/// The print worker: a durable, ordered queue with backoff and no silent duplicates.
pub mod queue;
/// SQLite: visitors, print jobs, guestbook entries; migrations live in `src/store/migrations/`.
pub mod store;
/// Maps an issued certificate to the printer crate's ticket.
pub mod ticket;
/// Visitor tokens: random, stored only hashed, and the key that seals a visitor's private key.
pub mod token;
/// Input rules for names, emails and messages, shared by every form.
pub mod validate;
/// The HTTP layer: `router(state)` and one module per page group.
pub mod web;
