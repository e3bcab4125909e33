//! certstamp: a conference-booth kiosk that issues real X.509 client certificates
//! and prints stamped tickets. `main.rs` only parses the command line and dispatches;
//! this crate holds the rest.
//!
//! # Layers
//!
//! Dependencies run one way, top to bottom; nothing imports a layer above it:
//!
//! ```text
//! main, cli         parse the command line, set up logging, dispatch
//!   server          bind both listeners, start the workers, signals, shutdown
//!     web           the only axum code: routes, extractors, pages, errors -> statuses
//!       app         use cases: submit, record outcomes, void, reissue, print, sign
//!         domain    pki, issuer, store, queue, ticket, bundle, guestbook, token,
//!                   validate, qr, cache, limit, events, handoff, metrics, clock, config, error,
//!                   assets, verify, archive, passphrase, session, revocation
//!           certstamp-printer   layout, ESC/POS, preview, drivers (knows no certificates)
//! ```
//!
//! The domain error knows nothing of HTTP (`web::error` maps it), and each external
//! system has exactly one module that talks to it: Kubernetes `issuer::cert_manager`,
//! the database `store::sqlite`, printers `queue` (through the printer crate's drivers).
//! A test in `server` fails on an upward import.
//!
//! # Where new code goes
//!
//! A new page or route: `web/` (a handler turns the request into one `App` call and
//! the answer into a page). A new thing someone can do: a method on `App` in `app/`.
//! A new rule, format or computation: a pure function in the domain module it belongs
//! to, tested as a function. A new external system: one new domain module, behind a
//! trait when the app needs to swap it in tests.
//!
//! # Reading order
//!
//! One visitor's path, from the form to the ticket and the guestbook:
//!
//! 1. [`config`]: flags, `CERTSTAMP_*` and TOML become one `Settings`.
//! 2. [`server`]: binds the web and guestbook listeners and starts the workers.
//! 3. [`web`]: `GET /` renders the form; `POST /issue` reads it.
//! 4. [`app`]: checks the submission and issues: store first, then the issuer.
//! 5. [`validate`]: the rules for names and emails.
//! 6. [`token`]: the visitor's link token, stored only hashed; it seals the key.
//! 7. [`limit`]: requests per client address (one budget across replicas).
//! 8. [`issuer`]: local CA or cert-manager; results come back through one channel.
//! 9. [`pki`]: the leaf profile, chains and checks.
//! 10. [`store`]: the visitor row, durable before the redirect.
//! 11. [`bundle`] and [`qr`]: the zip with the PKCS#12, and the code on page and ticket.
//! 12. [`ticket`] and [`queue`]: the printed ticket and the worker that prints it once.
//! 13. [`guestbook`]: what the certificate is for: signing over mutual TLS.
//! 14. [`events`]: what just happened, for the wall, staff and the visitor's page (on a
//!     shared database, from every replica).
//! 15. [`metrics`]: the same, counted for Prometheus at `/metrics`.
//! 16. [`clock`] and [`error`]: timestamps, and the one error type.
//! 17. [`verify`] and [`archive`]: after the event, checking a certificate anywhere, and
//!     the static site that keeps every printed QR code working.
#![forbid(unsafe_code)]

/// The use cases every handler calls: submit, record, void, reissue, print, sign.
pub mod app;
/// `certstamp archive`: the booth's public side as a static site that keeps every QR code working.
pub mod archive;
/// The static files compiled in (stylesheet, the certificate check script) and their version.
pub mod assets;
/// The downloadable zip and the PKCS#12 inside it.
pub mod bundle;
/// A bounded in-memory cache with a time to live.
pub mod cache;
/// Unix-second timestamps and how pages and tickets show them.
pub mod clock;
/// Command line, environment (`CERTSTAMP_*`) and TOML configuration, resolved into `Settings`.
pub mod config;
/// The one error type, and the `Result` alias.
pub mod error;
/// What just happened, broadcast to screens that update live.
pub mod events;
/// The data dir's files and directories, private whatever the umask.
pub mod files;
/// The guestbook's rules: the mTLS trust settings, client certificate checks, signing.
pub mod guestbook;
/// Kiosk handoffs: the booth screen shows a short-lived page, never a visitor's permanent link;
/// ids, digests and the session key a token is sealed to (the store keeps the handoffs).
pub mod handoff;
/// The `Issuer` trait, its outcome channel, and two backends: `local` (rcgen) and `cert_manager` (kube).
pub mod issuer;
/// Fixed-window rate limits per client address or certificate.
pub mod limit;
/// Prometheus metrics: the registry and the handles app, queue and web record into.
pub mod metrics;
/// The staff passphrase: rules, argon2id hash, the file that keeps it.
pub mod passphrase;
/// Pure X.509 work: the booth root, conference intermediates, the visitor leaf profile, parsing.
pub mod pki;
/// QR codes as inline SVG paths and PNG.
pub mod qr;
/// The print worker: a durable, ordered queue with backoff and no silent duplicates.
pub mod queue;
/// Certificate revocation lists: voided serials, signed by the conference intermediate.
pub mod revocation;
/// The process: listeners, workers, signals and shutdown.
pub mod server;
/// Staff sessions and one-time enrolment codes: lifetimes and the digests the store keeps.
pub mod session;
/// The database behind one typed interface (`Backend`); SQLite with reader threads, in-place point reads and a group-committing writer.
pub mod store;
/// Maps an issued certificate to the printer crate's ticket.
pub mod ticket;
/// Visitor tokens: random, stored only hashed, and the key that seals a visitor's private key.
pub mod token;
/// Input rules for names, emails and messages, shared by every form.
pub mod validate;
/// Is this a certificate from this booth, valid now? The pure check behind `certstamp verify`.
pub mod verify;
/// The HTTP layer: `router(app)`, one module per page group, errors mapped to pages.
pub mod web;
