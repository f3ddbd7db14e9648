//! Connectors: the framework every storage connector shares (routes, registration, full scans,
//! the filter language) and one module per storage.

pub mod azure;
pub mod filesystem;
pub mod filter;
pub mod framework;
pub mod gcs;
pub mod object_store;
pub mod s3;
