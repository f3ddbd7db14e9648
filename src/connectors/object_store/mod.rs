//! What the object-store connectors (S3, Azure Blob, GCS) share beyond the framework: the asset
//! and quarantine rules, and paged listings one page ahead of the scan.

pub mod asset;
pub mod paged_listing;
