//! The Hugging Face Hub (issue 15; DESIGN.md "The Hub"): every request fxb makes to the
//! Hub or its CDN, and every `HF_*` variable it reads, live in this module and nowhere
//! else.
//!
//! - [`env`]: the environment (`HF_ENDPOINT`, the token, `HF_HOME`, `HF_HUB_CACHE`,
//!   `HF_HUB_OFFLINE`, timeouts, the CA bundle, proxies), read in one place.
//! - [`client`]: the HTTP client (ureq, rustls): credentials only to the Hub's own host,
//!   no compression, retries with backoff, the Hub's error codes, the user's CA bundle
//!   and proxies.
//! - [`proxy`]: which requests bypass the proxy (`NO_PROXY`), and proxy URLs without
//!   their passwords.
//! - [`api`]: repository listings and refs, one file's metadata.
//! - [`repo`]: repository ids and the Hub's cache layout (`models--org--name/…`).
//! - [`blob`]: one file into `blobs/<etag>`: locked, atomic, resumable, verified.
//! - [`revision`]: which revision a download uses, and why.
//! - [`card`]: a model card's `base_model`.
//! - [`snapshot`]: a model's config files through the Hugging Face hub cache (`check`,
//!   `build`, `fingerprint` of a repo id).
//! - [`download`]: `fxb download` — a repository's bundles into the fxb cache, indexed.
//! - [`commit`]: the write side — repository creation, preupload, the LFS batch API and
//!   its `basic` transfer, the NDJSON commit.
//! - [`publish`]: `fxb publish` — a bundle or a model directory as one commit, with its
//!   model card.
//!
//! Long work reports [`DownloadEvent`]s to a callback, for a front end to draw (a bar on a
//! terminal, a stream, a Python callback); nothing here prints.

pub mod agents;
pub mod api;
pub mod blob;
pub mod card;
pub mod client;
pub mod commit;
pub mod download;
pub mod env;
mod error;
pub mod proxy;
pub mod publish;
pub mod repo;
pub mod revision;
pub mod snapshot;

use std::path::Path;
use std::time::Duration;

pub use download::{DownloadReport, DownloadRequest, DownloadedFile, FailedFile, download};
pub use env::HubEnv;
pub use error::HubError;
pub use publish::{PublishError, PublishReport, PublishRequest, publish};
pub use repo::RepoId;
pub use revision::{LlmVersion, RevisionChoice};
pub use snapshot::{Snapshot, SnapshotRequest, SnapshotSource, Wanted, snapshot};

/// What a Hub operation tells its front end as it goes.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum DownloadEvent<'a> {
    /// The revision used, and why (as given, a release tag, the default branch).
    Revision { revision: &'a str, why: &'a str },
    /// The release tag `tried` is not in `repo`: the default branch is used instead.
    Fallback {
        repo: &'a str,
        tried: &'a str,
        default: &'a str,
    },
    /// Another process holds the file's lock (downloading it); said every few seconds.
    Waiting {
        file: &'a str,
        lock: &'a Path,
        waited: Duration,
    },
    /// An attempt failed for a reason worth another; the next starts after `wait`.
    Retrying {
        what: &'a str,
        reason: &'a str,
        wait: Duration,
        attempt: u32,
        attempts: u32,
    },
    /// A transfer of `size` bytes starts (or continues from `resumed_from`).
    Started {
        file: &'a str,
        size: u64,
        resumed_from: u64,
    },
    /// `bytes` more arrived (or were hashed, or sent).
    Progress { bytes: u64 },
    /// A file of `size` bytes is being hashed (publish's first pass).
    Hashing { file: &'a str, size: u64 },
    /// `file` is complete and verified.
    Finished { file: &'a str },
}

/// The callback events go to (any thread).
pub type Events<'a> = &'a (dyn Fn(&DownloadEvent<'_>) + Sync);

/// A callback that ignores every event.
pub fn ignore_events(_: &DownloadEvent<'_>) {}
