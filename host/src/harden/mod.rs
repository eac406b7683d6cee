//! Hardening from observation: seccomp profiles and capability sets derived from what
//! containers actually did, compared with what they are allowed now. Pure logic: nothing
//! here reads files, talks to the daemon or attaches probes; callers bring the observations
//! and the profiles' bytes, and this module only parses and reasons.

pub mod advice;
pub mod caps;
pub mod seccomp;
