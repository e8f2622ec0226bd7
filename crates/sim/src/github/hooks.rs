//! Webhook deliveries: when a test sets a webhook, scripted changes are POSTed to it the way
//! GitHub delivers them, one at a time in the order they happened, signed with the secret.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::{mpsc, oneshot};

use super::{Inner, WebhookDelivery, lock};

/// GitHub gives up on a delivery after ten seconds.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// `User-Agent` of deliveries.
const USER_AGENT: &str = "GitHub-Hookshot/5d8e4b1";
/// Id of the simulated hook.
const HOOK_ID: u64 = 471_920_311;

/// Where deliveries go.
struct Target {
    url: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Webhook configuration and the queue to the delivering task.
#[derive(Debug)]
pub(crate) struct Hooks {
    target: Option<Target>,
    tx: mpsc::UnboundedSender<Outgoing>,
}

/// One thing for the delivering task to do.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Post(Box<Post>),
    /// Answered once everything queued before it was delivered.
    Flush(oneshot::Sender<()>),
}

/// One delivery, ready to send.
#[derive(Debug)]
pub(crate) struct Post {
    url: String,
    guid: String,
    event: String,
    action: Option<String>,
    body: String,
    signature: Option<String>,
    target_id: u64,
    reply: Option<oneshot::Sender<Option<u16>>>,
}

impl Hooks {
    pub fn new(tx: mpsc::UnboundedSender<Outgoing>) -> Self {
        Hooks { target: None, tx }
    }

    pub fn set(&mut self, url: &str, secret: &str) {
        self.target = Some(Target {
            url: url.to_owned(),
            secret: secret.as_bytes().to_vec(),
        });
    }

    pub fn clear(&mut self) {
        self.target = None;
    }

    pub fn active(&self) -> bool {
        self.target.is_some()
    }

    pub fn flush(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let _ = self.tx.send(Outgoing::Flush(tx));
        rx
    }
}

/// `sha256=<hex>` of the HMAC-SHA256 of `body` under `secret`.
pub(crate) fn sign(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A random id shaped like GitHub's `X-GitHub-Delivery` (a version-4 UUID).
fn guid() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill(&mut b[..]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// How a queued delivery is signed.
pub(crate) enum Signature {
    /// With the webhook's secret (no header when the secret is empty, as on GitHub).
    Secret,
    /// This header value, or no header at all.
    Given(Option<String>),
}

/// Queues a delivery of `body` as `event`; `false` when no webhook is set.
pub(crate) fn queue(
    inner: &Inner,
    event: &str,
    body: String,
    signature: Signature,
    reply: Option<oneshot::Sender<Option<u16>>>,
) -> bool {
    let hooks = lock(&inner.hooks);
    let Some(target) = &hooks.target else {
        return false;
    };
    let action = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_owned));
    let signature = match signature {
        Signature::Secret if target.secret.is_empty() => None,
        Signature::Secret => Some(sign(&target.secret, body.as_bytes())),
        Signature::Given(s) => s,
    };
    let post = Post {
        url: target.url.clone(),
        guid: guid(),
        event: event.to_owned(),
        action,
        body,
        signature,
        target_id: super::payload::org_id(inner),
        reply,
    };
    hooks.tx.send(Outgoing::Post(Box::new(post))).is_ok()
}

/// Queues a signed delivery of `payload` when a webhook is set.
pub(crate) fn send(inner: &Inner, event: &str, payload: &Value) {
    queue(inner, event, payload.to_string(), Signature::Secret, None);
}

/// Delivers queued posts one after the other until the queue closes, recording each outcome.
pub(crate) async fn deliver(
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    delivered: Arc<Mutex<Vec<WebhookDelivery>>>,
) {
    let client = match reqwest::Client::builder()
        .no_proxy()
        .timeout(DELIVERY_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "simulated GitHub cannot deliver webhooks");
            return;
        }
    };
    while let Some(item) = rx.recv().await {
        let post = match item {
            Outgoing::Flush(done) => {
                let _ = done.send(());
                continue;
            }
            Outgoing::Post(post) => *post,
        };
        let mut req = client
            .post(&post.url)
            .header("content-type", "application/json")
            .header("accept", "*/*")
            .header("user-agent", USER_AGENT)
            .header("x-github-event", &post.event)
            .header("x-github-delivery", &post.guid)
            .header("x-github-hook-id", HOOK_ID.to_string())
            .header("x-github-hook-installation-target-type", "organization")
            .header(
                "x-github-hook-installation-target-id",
                post.target_id.to_string(),
            )
            .body(post.body.clone());
        if let Some(sig) = &post.signature {
            req = req.header("x-hub-signature-256", sig);
        }
        let (status, error) = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                // Read the answer so the connection can be reused; its content does not matter.
                let _ = resp.bytes().await;
                (Some(status), None)
            }
            Err(e) => (None, Some(e.to_string())),
        };
        tracing::debug!(event = %post.event, action = ?post.action, ?status, "simulated GitHub delivered a webhook");
        lock(&delivered).push(WebhookDelivery {
            guid: post.guid,
            event: post.event,
            action: post.action,
            status,
            error,
            signature: post.signature,
            body: post.body,
        });
        if let Some(reply) = post.reply {
            let _ = reply.send(status);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_ids_have_githubs_form() {
        // The example of GitHub's webhook documentation.
        assert_eq!(
            sign(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let id = guid();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert_ne!(guid(), id);
    }
}
