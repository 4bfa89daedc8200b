//! fxb: the toolkit for compiled NPU model bundles (FXB).
//!
//! The library does the work; the `fxb` binary parses arguments, calls it and prints.
//! Modules, one noun each:
//! - [`bundle`]: the FXB format — read, write, inspect, compare, pack and unpack bundles.
//! - [`plugin`]: the WebAssembly sandbox for architecture plugins.
//! - [`backend`]: compiler and runtime backends (native libraries, the linked host one).
//! - [`build`]: building a bundle (`ArtifactBuilder`).
//! - [`rules`]: versioned TOML rule files (the data behind fingerprints).
//! - [`fingerprint`]: config.json → architecture fingerprint, and comparison.
//! - [`fs`]: atomic file replacement, the user's directories, safe path components.
//! - [`convert`]: `--convert`, the task rewrite of an architecture.
//! - [`plan`]: bucket plans (through the architecture's plugin and the rule's presets).
//! - [`cache`]: the local bundle cache (index, add, ls, rm, prune, verify).
//! - [`check`]: which cached bundles fit a model, ranked as a server would.
//! - [`hub`]: the Hugging Face Hub: its environment, requests and `download`.
//! - [`report`]: text reports in the reference's layouts (show, build summary, tables).
//! - [`resolve`]: which bundle a server would load, and why.
//! - [`schema`]: JSON Schemas generated from the serde types.
//! - [`source`]: where plugins and rule files come from.
//! - [`toolchain`]: the rules, plugins and plugin host every model operation uses.
//! - [`model`]: how a user names a model (a local directory or a Hub id).
//! - [`leftovers`]: what killed processes leave behind, and its removal.

pub mod backend;
pub mod build;
pub mod bundle;
pub mod cache;
pub mod check;
pub mod convert;
pub mod fingerprint;
pub mod fs;
pub mod hub;
pub mod leftovers;
pub mod model;
pub mod plan;
pub mod plugin;
pub mod report;
pub mod resolve;
pub mod rules;
pub mod schema;
pub mod source;
pub mod toolchain;

/// A next step for the user, where one exists. Every library error that can suggest one
/// implements it; front ends print it (`hint: …` in the CLI, a field in the registry's
/// JSON errors) without knowing the error's type.
pub trait Hint {
    fn hint(&self) -> Option<String>;
}
