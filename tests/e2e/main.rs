//! End-to-end tests: the real `certstamp` binary on loopback, real SQLite, and real
//! peers (openssl, curl, zbarimg, Chromium). One test binary, so it links once.

mod support;

mod archive;
mod browser;
mod cert_manager;
mod connections;
mod deploy;
mod guestbook;
mod image;
mod issuance;
mod kube_standin;
mod load;
mod operations;
pub(crate) mod printing;
pub(crate) mod replicas;
pub(crate) mod replicas_live;
mod retention;
mod screens;
mod staff;
mod storage;
