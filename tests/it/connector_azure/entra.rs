//! Entra ID credentials against Azurite on OAuth over HTTPS (its certificate from a test CA given
//! in `DSXCONNECTOR_CA_BUNDLE`) and the token servers of the TK rig: client secret, workload
//! identity (federated token file) and managed identity (`IDENTITY_ENDPOINT`) each authorise
//! repository checks, full scans and reads with a bearer token; a token is fetched once per
//! lifetime and renewed before it expires; a refused token is `auth_failure`, and the secret
//! never reaches the logs or `/config`.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{IN_SCOPE, Rig, locations, seed};
use crate::common::azurite::*;
use crate::common::entra::{Identities, STORAGE_RESOURCE, STORAGE_SCOPE, TokenServer};
use crate::common::fake_core::FakeCore;
use crate::common::{free_tcp_port, wait_for};

/// A seeded container on the OAuth Azurite and a connector on it with the credential `cred`
/// (plus the endpoint and the CA bundle); waits until it is ready when `ready`.
async fn entra_rig(cred: &[(&str, &str)], ready: bool) -> Rig {
    let oz = azurite_oauth();
    let az = admin_trusting(&oz.url, Some(&oz.pki.ca));
    let container = unique("e");
    seed(&az, &container).await;
    let fc = FakeCore::start();
    let data = tempfile::tempdir().unwrap();
    let ca = oz.pki.ca.display().to_string();
    let mut env = cred.to_vec();
    env.push(("DSXCONNECTOR_AZURE_ENDPOINT_URL", &oz.url));
    env.push(("DSXCONNECTOR_CA_BUNDLE", &ca));
    let (conn, _) = start_azure_connector(&fc.url, &oz.url, &format!("{container}/pre"), data.path(), &env);
    let r = Rig {
        fc,
        conn,
        az,
        container,
        http: reqwest::Client::new(),
        _data: data,
    };
    if ready {
        r.wait_ready().await;
    }
    r
}

fn client_secret_env(tk: &TokenServer) -> Vec<(&'static str, String)> {
    vec![
        ("AZURE_TENANT_ID", tk.ids.tenant.clone()),
        ("AZURE_CLIENT_ID", tk.ids.client_id.clone()),
        ("AZURE_CLIENT_SECRET", tk.ids.client_secret.clone()),
        ("AZURE_AUTHORITY_HOST", tk.authority.clone()),
    ]
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn config(r: &Rig) -> String {
    let v: Value = r.http.get(r.url("/config")).send().await.unwrap().json().await.unwrap();
    v.to_string()
}

/// Line 73 (client secret): the repository check, a full scan and a read all go through with
/// the bearer token, which the authority issued once for `https://storage.azure.com/.default`;
/// `/config` names the mode and shows no secret.
#[tokio::test]
async fn a_client_secret_token_authorises_checks_scans_and_reads_and_is_fetched_once() {
    let tk = TokenServer::start(&azurite_oauth().pki, Identities::new(Duration::from_secs(3600)));
    let r = entra_rig(&borrowed(&client_secret_env(&tk)), true).await;
    assert_eq!(r.repo_check().await["status"], "success");
    let items = r.full_scan("E").await;
    assert_eq!(locations(&items), IN_SCOPE);
    let body = r.read("pre/sub2/b.pdf").await;
    assert_eq!(body.status().as_u16(), 200);
    assert_eq!(body.bytes().await.unwrap().as_ref(), b"%PDF");
    assert_eq!(r.repo_check().await["status"], "success");

    let asked = tk.requests();
    assert_eq!(asked.len(), 1, "one token for its whole lifetime: {asked:?}");
    assert_eq!(
        (asked[0].grant, asked[0].scope.as_str(), asked[0].granted),
        ("client_secret", STORAGE_SCOPE, true)
    );
    let cfg = config(&r).await;
    assert!(cfg.contains("\"auth\":\"client_secret\""), "{cfg}");
    assert!(!cfg.contains(&tk.ids.client_secret), "{cfg}");
}

/// Line 73 (lifetime): a token living 20 s is renewed half way through (a lifetime under ten
/// minutes): until then every check reuses it, then exactly one new token is fetched — before
/// the old one expired, since Azurite, which checks `exp`, accepted every check.
#[tokio::test]
async fn tokens_are_renewed_once_per_lifetime_before_they_expire() {
    let tk = TokenServer::start(&azurite_oauth().pki, Identities::new(Duration::from_secs(20)));
    let r = entra_rig(&borrowed(&client_secret_env(&tk)), true).await;
    let checks_on_first = std::cell::Cell::new(0);
    wait_for("the token renewed", Duration::from_secs(90), || async {
        let v = r.repo_check().await;
        assert_eq!(v["status"], "success", "{v}");
        if tk.requests().len() < 2 {
            checks_on_first.set(checks_on_first.get() + 1);
            None
        } else {
            Some(())
        }
    })
    .await;
    let asked = tk.requests();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked.iter().all(|a| a.granted && a.scope == STORAGE_SCOPE), "{asked:?}");
    let gap = asked[1].at - asked[0].at;
    assert!(
        gap >= Duration::from_millis(9500) && gap < Duration::from_secs(20),
        "renewed after {gap:?}: not before the token was due, and before it expired"
    );
    let reused = checks_on_first.get();
    assert!(reused >= 2, "checks reused the first token: {reused}");
    assert_eq!(r.repo_check().await["status"], "success");
    assert_eq!(tk.requests().len(), 2, "the renewed token is cached again");
}

/// Line 73 (managed identity) and workload identity: `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`
/// (the App Service / Container Apps protocol) and a federated token file presented as the
/// client assertion each authorise a repository check and a full scan.
#[tokio::test]
async fn managed_and_workload_identities_authorise_checks_and_scans() {
    let tk = TokenServer::start(&azurite_oauth().pki, Identities::new(Duration::from_secs(3600)));
    let mi = entra_rig(
        &[
            ("IDENTITY_ENDPOINT", tk.identity_endpoint.as_str()),
            ("IDENTITY_HEADER", tk.ids.identity_header.as_str()),
        ],
        true,
    )
    .await;
    assert_eq!(mi.repo_check().await["status"], "success");
    assert_eq!(locations(&mi.full_scan("M").await), IN_SCOPE);
    let asked = tk.requests();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(
        (asked[0].grant, asked[0].scope.as_str(), asked[0].granted),
        ("managed_identity", STORAGE_RESOURCE, true)
    );
    let cfg = config(&mi).await;
    assert!(cfg.contains("\"auth\":\"managed_identity\""), "{cfg}");
    assert!(!cfg.contains(&tk.ids.identity_header), "{cfg}");

    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("azure-identity-token");
    std::fs::write(&token_file, format!("{}\n", tk.ids.federated_assertion)).unwrap();
    let file = token_file.display().to_string();
    let wi = entra_rig(
        &[
            ("AZURE_TENANT_ID", tk.ids.tenant.as_str()),
            ("AZURE_CLIENT_ID", tk.ids.client_id.as_str()),
            ("AZURE_FEDERATED_TOKEN_FILE", file.as_str()),
            ("AZURE_AUTHORITY_HOST", tk.authority.as_str()),
        ],
        true,
    )
    .await;
    assert_eq!(wi.repo_check().await["status"], "success");
    assert_eq!(locations(&wi.full_scan("W").await), IN_SCOPE);
    let asked = tk.requests();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_eq!(
        (asked[1].grant, asked[1].scope.as_str(), asked[1].granted),
        ("client_assertion", STORAGE_SCOPE, true)
    );
    assert!(config(&wi).await.contains("\"auth\":\"workload_identity\""));
}

/// Line 73 (managed identity on a VM or node): without `IDENTITY_ENDPOINT` the connector asks the
/// instance metadata service, here at `AZURE_POD_IDENTITY_AUTHORITY_HOST` (the SDKs' override of
/// `http://169.254.169.254`), with `Metadata: true`; the token authorises a check and a scan.
#[tokio::test]
async fn managed_identity_without_an_identity_endpoint_asks_the_instance_metadata_service() {
    let tk = TokenServer::start(&azurite_oauth().pki, Identities::new(Duration::from_secs(3600)));
    let r = entra_rig(
        &[
            ("DSXCONNECTOR_AZURE_AUTH", "managed_identity"),
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", tk.authority.as_str()),
        ],
        true,
    )
    .await;
    assert_eq!(r.repo_check().await["status"], "success");
    assert_eq!(locations(&r.full_scan("I").await), IN_SCOPE);
    let asked = tk.requests();
    assert_eq!(asked.len(), 1, "one token, cached: {asked:?}");
    assert_eq!(
        (asked[0].grant, asked[0].scope.as_str(), asked[0].granted),
        ("imds", STORAGE_RESOURCE, true)
    );
    assert!(config(&r).await.contains("\"auth\":\"managed_identity\""));
}

/// Line 73 (refusals): an authority answering 401 makes the repository check `auth_failure`
/// (never a 500); a wrong client secret does too, in the process as users run it, and neither
/// the wrong nor the right secret appears anywhere in its debug log.
#[tokio::test]
async fn refused_tokens_are_auth_failures_and_secrets_never_reach_the_logs() {
    let tk = TokenServer::start(&azurite_oauth().pki, Identities::new(Duration::from_secs(3600)));
    tk.refuse_all();
    let r = entra_rig(&borrowed(&client_secret_env(&tk)), false).await;
    let v = r.repo_check().await;
    assert_eq!(v["status"], "error", "{v}");
    assert!(v.to_string().contains("auth_failure"), "{v}");
    assert!(tk.requests().iter().all(|a| !a.granted));

    let good = TokenServer::start(&azurite_oauth().pki, Identities::new(Duration::from_secs(3600)));
    let oz = azurite_oauth();
    let az = admin_trusting(&oz.url, Some(&oz.pki.ca));
    let container = unique("e");
    seed(&az, &container).await;
    let fc = FakeCore::start();
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("connector.log");
    let wrong = format!("wrong~{}", uuid::Uuid::new_v4().simple());
    let port = free_tcp_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsx-connect"))
        .args(["connector", "azure-blob", "--listen", &format!("127.0.0.1:{port}")])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DSXCONNECTOR_DATA_DIR", data.path())
        .env("DSXCONNECTOR_DSX_CONNECT_URL", &fc.url)
        .env("DSXCONNECTOR_ASSET", format!("{container}/pre"))
        .env("DSXCONNECTOR_LOG_LEVEL", "debug")
        .env("DSXCONNECTOR_AZURE_ENDPOINT_URL", &oz.url)
        .env("DSXCONNECTOR_CA_BUNDLE", &oz.pki.ca)
        .env("AZURE_TENANT_ID", &good.ids.tenant)
        .env("AZURE_CLIENT_ID", &good.ids.client_id)
        .env("AZURE_CLIENT_SECRET", &wrong)
        .env("AZURE_AUTHORITY_HOST", &good.authority)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/azure-blob-storage-connector/repo_check");
    let v: Value = wait_for("the connector answers", Duration::from_secs(60), || async {
        http.get(&url).send().await.ok()?.json().await.ok()
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(v.to_string().contains("auth_failure"), "{v}");
    assert!(
        good.requests().iter().any(|a| a.grant == "client_secret" && !a.granted),
        "the authority refused the secret"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("auth_failure") || text.contains("401"),
        "the log says why: {text}"
    );
    assert!(!text.contains(&wrong), "the wrong secret is in the log: {text}");
    assert!(!text.contains(&good.ids.client_secret), "{text}");
}
