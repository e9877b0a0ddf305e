#![forbid(unsafe_code)]
//! vcgate library (the vSphere client only, on this branch).

pub mod vsphere;
