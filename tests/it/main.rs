//! Integration tests: the service over the wire, started on port 0.

mod backup;
mod blob_xml;
#[path = "../support/burst.rs"]
mod burst;
mod dashboard;
mod data_dir;
mod demo;
mod durability;
mod extensions;
mod faults;
mod fuzz;
mod guest;
mod health;
mod helpers;
mod logging;
mod management;
mod migrate;
mod remote_storage;
mod requests;
mod sim_clock;
mod startup_errors;
