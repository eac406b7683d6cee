//! Bulwark's integration tests: one binary with a module per area, so the suite links once.
//!
//! Areas whose subject needs no Docker (the sandbox, the output formats, snapshots) run the
//! real `bulwark` binary on a snapshot recorded from a real dockerd
//! (`tests/fixtures/host.snap.json`); the others start private dockerd instances, real
//! containers and real eBPF probes. They need root, Docker, busybox-static, iproute2 and the
//! eBPF toolchain, which `cargo xtask test` installs; they fail, never skip, without them.

mod common;

mod author;
mod benchmarks;
mod deploy;
mod distribute;
mod docker_daemon;
mod docker_files;
mod docker_runtime;
mod docker_sections;
mod faults;
mod fix;
mod image;
mod outputs;
mod podman;
mod profile;
mod remote;
mod rootless;
mod sandbox;
mod serve;
mod snapshot;
mod watch;
