//! The one integration test binary, a module per command: one link and one process
//! start for the whole suite instead of one per file, and shared helpers in `common`
//! (every test in its own temp dir, with its own home and caches).

mod common;

mod backends;
mod build;
mod cache;
mod check;
mod compile;
mod convert;
mod cross_tool;
mod diff;
mod families;
mod furiosa;
mod fuzz_corpus;
mod hostile;
mod hub;
mod hub_clients;
mod hub_model;
mod hub_network;
mod inspect;
mod list;
mod mock_hub;
mod mock_net;
mod pack_unpack;
mod plan;
mod plugins;
mod publish;
mod reference_capture;
mod rules;
mod schemas;
mod show;
mod version;
mod writer;
