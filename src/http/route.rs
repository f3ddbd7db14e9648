//! The types of the route table (`access.rs`): the least access of a route and one entry of the
//! table. Kept apart from the table so that what reads the table (the OpenAPI document) does not
//! depend on the handlers the table names.

use actix_web::Route;

use crate::auth::tokens::Role;

/// The least a caller needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Anyone, from anywhere (liveness and readiness probes).
    Probe,
    /// Anyone (sign-in); Host and CSRF checks still apply.
    Public,
    /// The registration route authenticates itself (signature or enrollment token).
    Enrollment,
    /// A connector's signature, or an operator principal of at least this role.
    ConnectorOr(Role),
    Viewer,
    Operator,
    Admin,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Probe | Access::Public => "public",
            Access::Enrollment => "enrollment",
            Access::ConnectorOr(_) => "connector",
            Access::Viewer => "viewer",
            Access::Operator => "operator",
            Access::Admin => "admin",
        }
    }
}

/// One API route: path below the API prefix, method, access, handler.
pub struct Entry {
    pub path: &'static str,
    pub method: &'static str,
    pub access: Access,
    /// The handler (the router calls it once per worker).
    pub(super) route: fn() -> Route,
}
