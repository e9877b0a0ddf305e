//! Real peers the tests start themselves, each on a port the kernel picks
//! and each reporting the address it bound.

pub mod alertmanager;
pub mod browser;
pub mod postgres;
pub mod snmptrapd;
pub mod vcsim;
pub mod webhook;
