//! Publishing one update with a form POST, as the Mercure protocol defines it.

use std::fmt;

use url::Url;

/// An update to publish.
#[derive(Debug, Clone, Default)]
pub struct Publication {
    /// The canonical topic first, then alternate topics; each is sent as a `topic` field.
    pub topics: Vec<String>,
    /// The payload subscribers receive.
    pub data: String,
    /// The event id; the hub generates one when absent.
    pub id: Option<String>,
    /// The event-stream `event` field, sent as `type`.
    pub event_type: Option<String>,
    /// The reconnection delay to advise subscribers, in milliseconds.
    pub retry: Option<u64>,
    /// Only subscribers allowed to read one of the topics receive a private update.
    pub private: bool,
}

impl Publication {
    /// An update of `data` on one topic; the other fields are left to the hub.
    pub fn new(topic: impl Into<String>, data: impl Into<String>) -> Self {
        Self { topics: vec![topic.into()], data: data.into(), ..Self::default() }
    }
}

/// Why a publish failed.
#[derive(Debug)]
pub enum PublishError {
    /// The hub could not be reached.
    Network(String),
    /// The hub refused the update; the message is the hub's.
    Refused {
        /// The HTTP status the hub answered.
        status: u16,
        /// The body of the hub's answer.
        message: String,
    },
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network(why) => write!(f, "could not reach the hub: {why}"),
            Self::Refused { status, message } => write!(f, "hub answered {status}: {}", message.trim()),
        }
    }
}

impl std::error::Error for PublishError {}

/// Publishes `update` to the hub at `hub_url` and returns the event id it was given.
pub async fn publish(client: &reqwest::Client, hub_url: &Url, update: &Publication) -> Result<String, PublishError> {
    publish_with_token(client, hub_url, update, None).await
}

/// Like [`publish`], sending `token` (a JWT granting `publish` on the topics) as a bearer token.
pub async fn publish_with_token(
    client: &reqwest::Client,
    hub_url: &Url,
    update: &Publication,
    token: Option<&str>,
) -> Result<String, PublishError> {
    let mut request = client
        .post(hub_url.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(update));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| PublishError::Network(e.to_string()))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| PublishError::Network(e.to_string()))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(PublishError::Refused { status: status.as_u16(), message: body })
    }
}

/// The form encoding of `update` (built apart so the publish future stays `Send`).
fn form_body(update: &Publication) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for topic in &update.topics {
        form.append_pair("topic", topic);
    }
    form.append_pair("data", &update.data);
    if let Some(id) = &update.id {
        form.append_pair("id", id);
    }
    if let Some(t) = &update.event_type {
        form.append_pair("type", t);
    }
    if let Some(retry) = update.retry {
        form.append_pair("retry", &retry.to_string());
    }
    if update.private {
        form.append_pair("private", "on");
    }
    form.finish()
}
