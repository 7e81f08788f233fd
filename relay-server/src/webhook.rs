//! Alert delivery to the operator's webhook: `https://` (plain `http://` only to a
//! loopback address), TLS by hyper over rustls with the aws-lc provider the AWS SDK
//! already uses, each POST signed with HMAC-SHA256 over its timestamp and body, retried
//! on network errors and `5xx`.

use std::sync::Arc;

use crate::{audit, now, Config};

/// The key that signs alert webhook POSTs. Zeroized on drop; never printed.
#[derive(Clone)]
pub struct WebhookSecret(pub zeroize::Zeroizing<Vec<u8>>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

/// Checks an alert webhook URL: `https://`, or `http://` to a loopback address only
/// (alerts name accounts; they never cross a network in clear).
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("the alert webhook URL: {e}"))?;
    let host = u.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match u.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(
            "the alert webhook must be an https:// URL (http:// only to a loopback address)".into(),
        ),
    }
}

/// The webhook's HTTP client: hyper over rustls (aws-lc), trusting the system's roots
/// and `ca_pem`'s certificates.
type WebhookClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<bytes::Bytes>,
>;

fn webhook_client(ca_pem: Option<&[u8]>) -> Result<WebhookClient, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        // A malformed system certificate is skipped, not fatal.
        let _ = roots.add(c);
    }
    if let Some(pem) = ca_pem {
        let mut n = 0usize;
        for c in CertificateDer::pem_slice_iter(pem) {
            let c = c.map_err(|e| format!("the webhook CA file: {e}"))?;
            roots
                .add(c)
                .map_err(|e| format!("the webhook CA file: {e}"))?;
            n = n.saturating_add(1);
        }
        if n == 0 {
            return Err("the webhook CA file holds no certificate".into());
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https),
    )
}

/// The signature headers of a webhook POST: `phiveil-timestamp` (Unix seconds) and
/// `phiveil-signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign_webhook(secret: &[u8], ts: i64, body: &[u8]) -> String {
    use hmac::Mac as _;
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// Posts each alert to the webhook (JSON, signed when a secret is set), retrying a
/// failed delivery twice (after 1 s and 2 s); failures are logged and the alert stays on
/// the live feed and in the log.
pub(crate) async fn deliver_alerts(
    mut rx: tokio::sync::broadcast::Receiver<audit::Alert>,
    config: Arc<Config>,
) {
    let Some(url) = config.alert_webhook.clone() else {
        return;
    };
    let client = match check_webhook_url(&url)
        .and_then(|()| webhook_client(config.alert_webhook_ca_pem.as_deref()))
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "alert webhook disabled");
            return;
        }
    };
    loop {
        let alert = match rx.recv().await {
            Ok(alert) => alert,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "alert webhook fell behind");
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        };
        let Ok(body) = serde_json::to_vec(&alert).map(bytes::Bytes::from) else {
            continue;
        };
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_secs(u64::from(attempt))).await;
            }
            let mut req = hyper::Request::post(url.as_str())
                .header("content-type", "application/json")
                .header("user-agent", "phiveil-relay");
            if let Some(secret) = &config.alert_webhook_secret {
                let ts = now();
                req = req
                    .header("phiveil-timestamp", ts.to_string())
                    .header("phiveil-signature", sign_webhook(&secret.0, ts, &body));
            }
            let Ok(req) = req.body(http_body_util::Full::new(body.clone())) else {
                break;
            };
            let sent =
                tokio::time::timeout(std::time::Duration::from_secs(5), client.request(req)).await;
            match sent {
                Ok(Ok(r)) if r.status().is_success() => break,
                Ok(Ok(r)) if r.status().is_client_error() => {
                    tracing::warn!(
                        status = r.status().as_u16(),
                        "alert webhook refused the alert"
                    );
                    break;
                }
                Ok(Ok(r)) => tracing::warn!(
                    status = r.status().as_u16(),
                    attempt,
                    "alert webhook failed"
                ),
                Ok(Err(e)) => tracing::warn!(error = %e, attempt, "alert webhook unreachable"),
                Err(_) => tracing::warn!(attempt, "alert webhook timed out"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_alert_webhook_is_https_or_loopback() {
        for ok in [
            "https://alerts.example.org/hook",
            "http://127.0.0.1:9000/a",
            "http://localhost/a",
            "http://[::1]:8443/a",
        ] {
            assert!(check_webhook_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://alerts.example.org/hook",
            "http://10.0.0.5/a",
            "ftp://127.0.0.1/a",
            "not a url",
        ] {
            assert!(check_webhook_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn webhook_signatures_are_hmac_sha256_over_timestamp_and_body() {
        // The value Python's hmac module gives for the same key and "0.<body>".
        let sig = sign_webhook(b"Jefe", 0, b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "v1=37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc"
        );
        assert_ne!(
            sig,
            sign_webhook(b"Jefe", 1, b"what do ya want for nothing?")
        );
        assert_ne!(
            sig,
            sign_webhook(b"Jefx", 0, b"what do ya want for nothing?")
        );
    }
}
