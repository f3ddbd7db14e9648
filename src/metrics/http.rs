//! HTTP requests by route template, method and status, with their latency (time to the
//! response head; a streamed body such as a file or an event stream is not included).

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub method: &'static str,
}

/// The label of a request that matched no route (one series for every unknown path).
pub const UNMATCHED: &str = "unmatched";

pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram>,
}

impl HttpMetrics {
    /// Registers `dsx_connect_http_requests_total` and `dsx_connect_http_request_duration_seconds`.
    pub fn register(registry: &mut Registry) -> Arc<Self> {
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| Histogram::new(super::http_buckets()));
        registry.register(
            "dsx_connect_http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        registry.register_with_unit(
            "dsx_connect_http_request_duration",
            "Time from a request's arrival to its response head, by route template and method",
            Unit::Seconds,
            duration.clone(),
        );
        Arc::new(Self { requests, duration })
    }

    pub fn observe(&self, route: String, method: &'static str, status: u16, seconds: f64) {
        self.duration
            .get_or_create(&RouteLabels {
                route: route.clone(),
                method,
            })
            .observe(seconds);
        self.requests
            .get_or_create(&RequestLabels { route, method, status })
            .inc();
    }
}

/// A bounded method label: the standard methods, anything else `OTHER`.
pub fn method_label(m: &actix_web::http::Method) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
    KNOWN.into_iter().find(|k| *k == m.as_str()).unwrap_or("OTHER")
}

/// Counts and times every request of an app. The route label is the pattern the router
/// matched (`/dsx-connect/api/v1/scan/jobs/{job_id}`), defined by the code and so bounded; a
/// path that matches no route is `unmatched`.
pub async fn track(
    metrics: Arc<HttpMetrics>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req.match_pattern().unwrap_or_else(|| UNMATCHED.to_string());
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    metrics.observe(route, method, status, started.elapsed().as_secs_f64());
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{App, HttpResponse, test, web};

    #[actix_web::test]
    async fn requests_are_labelled_by_route_template_never_by_path() {
        let mut registry = Registry::default();
        let metrics = HttpMetrics::register(&mut registry);
        let m = Arc::clone(&metrics);
        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(move |req, next| {
                    track(Arc::clone(&m), req, next)
                }))
                .route("/items/{id}", web::get().to(|| async { HttpResponse::Ok().finish() })),
        )
        .await;
        for path in ["/items/secret-1", "/items/secret-2", "/nothing/here/secret-3"] {
            test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        }
        let weird = actix_web::http::Method::from_bytes(b"BREW").unwrap();
        test::call_service(
            &app,
            test::TestRequest::default().method(weird).uri("/items/x").to_request(),
        )
        .await;
        let t = crate::metrics::encode(&[&registry]);
        for line in [
            "dsx_connect_http_requests_total{route=\"/items/{id}\",method=\"GET\",status=\"200\"} 2",
            "dsx_connect_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
            "dsx_connect_http_request_duration_seconds_count{route=\"/items/{id}\",method=\"GET\"} 2",
        ] {
            assert!(t.lines().any(|l| l == line), "{line}\n{t}");
        }
        assert!(t.contains("method=\"OTHER\""), "{t}");
        assert!(!t.contains("secret"), "{t}");
    }
}
