//! The integration suite: one test binary (it links once), a module per area. Tests start real
//! servers on loopback — cores, connectors, the DSXA stub, clamd, Redis, moto, rsyslog, the
//! OpenID provider — and wait for conditions, never for fixed times.
//!
//! `cargo test --test it -- <module>::` runs one area (`scripts/test.sh` runs the HTTP areas a
//! second time on the Redis backend that way).

mod common;

mod api_connectors;
mod api_failures;
mod api_identity;
mod api_intake;
mod api_jobs;
mod azure_end_to_end;
mod azure_process;
mod connector_azure;
mod connector_conformance;
mod connector_fs;
mod connector_fs_safety;
mod connector_gcs;
mod connector_monitor;
mod connector_process;
mod connector_s3;
mod connector_watch_limit;
mod docs_links;
mod engines;
mod filter_properties;
mod filter_vectors;
mod gcs_credentials;
mod gcs_end_to_end;
mod gcs_process;
mod job_control;
mod pipeline;
mod process;
mod redis_scale;
mod reuse;
mod s3_end_to_end;
mod s3_process;
mod schedules;
mod store;
mod superlog_cloudwatch;
mod superlog_scan;
mod superlog_sentinel;
mod superlog_splunk;
mod superlog_syslog;
mod tls;
