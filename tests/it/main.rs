//! The one integration test binary: a module per command, each test in its own temp dir.

mod common;

mod backends;
mod build;
mod cache;
mod check;
mod compile;
mod convert;
mod diff;
mod families;
mod hostile;
mod inspect;
mod list;
mod pack_unpack;
mod plan;
mod plugins;
mod rules;
mod schemas;
mod show;
mod version;
mod writer;
