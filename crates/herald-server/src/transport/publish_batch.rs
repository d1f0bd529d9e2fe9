//! Batch publishing: many updates in one request, each a JSON object with the form's fields.
//!
//! Over HTTP the body is NDJSON (`Content-Type: application/x-ndjson`, or `application/jsonl`):
//! one object per line, blank lines skipped. Over a WebSocket the `publish_batch` message
//! carries the same objects in `updates`. Fields: `topic` (a string or a list; the first is
//! canonical), `data`, `id`, `type` (or `event`, as in the WebSocket `publish`), `retry` (a
//! number, or digits as text), `private` (a boolean). An unknown field is refused, so a typo
//! never publishes something else than meant. The operations layer then checks every update and
//! publishes all of them or none.

use herald_core::Update;
use serde::Deserialize;

use crate::config::Limits;
use crate::ops::{self, PublishFailure};

/// The content types of an NDJSON batch, the first the one to use.
pub(crate) const CONTENT_TYPES: [&str; 2] = ["application/x-ndjson", "application/jsonl"];

/// One update of a batch, as its JSON object.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonUpdate {
    #[serde(default)]
    pub topic: OneOrMany,
    #[serde(default)]
    pub data: String,
    pub id: Option<String>,
    #[serde(rename = "type", alias = "event")]
    pub event_type: Option<String>,
    pub retry: Option<Retry>,
    #[serde(default)]
    pub private: bool,
}

impl JsonUpdate {
    /// The update it asks for: `retry` read as the form reads it, an empty `id` or `type`
    /// meaning none. Validation and the other limits come after, in the operations layer.
    pub(crate) fn into_update(self, limits: &Limits) -> Result<Update, PublishFailure> {
        let topics = self.topic.into_vec();
        ops::publish::check_topic_count(topics.len(), limits)?;
        let retry = match self.retry {
            None => None,
            Some(Retry::Number(n)) => Some(n),
            Some(Retry::Text(text)) => Some(ops::publish::parse_retry(&text)?),
        };
        Ok(Update {
            topics,
            data: self.data,
            id: self.id.filter(|i| !i.is_empty()),
            event_type: self.event_type.filter(|e| !e.is_empty()),
            retry,
            private: self.private,
        })
    }
}

/// A field given as one string or a list of strings.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            Self::None => Vec::new(),
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// `retry` as a number or, as in the form, a string of digits.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Retry {
    Number(u64),
    Text(String),
}

/// Reads an NDJSON body: the updates, and the line number (from 1) of each. Refuses more lines
/// than a batch may hold as soon as it counts them.
pub(crate) fn parse_ndjson(body: &[u8], limits: &Limits) -> Result<(Vec<Update>, Vec<usize>), PublishFailure> {
    let mut updates = Vec::new();
    let mut lines = Vec::new();
    for (index, line) in body.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        ops::publish::check_batch_size(updates.len() + 1, limits)?;
        let number = index + 1;
        let in_line = |failure| PublishFailure::InBatch { place: format!("line {number}"), failure: Box::new(failure) };
        let update = serde_json::from_slice::<JsonUpdate>(line)
            .map_err(|e| in_line(PublishFailure::Malformed(format!("not an update object ({e})"))))?
            .into_update(limits)
            .map_err(in_line)?;
        updates.push(update);
        lines.push(number);
    }
    Ok((updates, lines))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::FailureKind;

    fn parse(body: &str) -> Result<(Vec<Update>, Vec<usize>), PublishFailure> {
        parse_ndjson(body.as_bytes(), &Limits::default())
    }

    #[test]
    fn reads_every_field_of_every_line_and_skips_blank_lines() {
        let body = concat!(
            r#"{"topic":["a","b"],"data":"x\ny","id":"i","type":"t","retry":10,"private":true}"#,
            "\n\n  \r\n",
            r#"{"topic":"c","event":"e","retry":"15"}"#,
            "\r\n",
            r#"{"topic":"d","id":"","type":""}"#,
        );
        let (updates, lines) = parse(body).unwrap();
        assert_eq!(lines, [1, 4, 5]);
        let u = &updates[0];
        assert_eq!(u.topics, ["a", "b"]);
        assert_eq!((u.data.as_str(), u.id.as_deref(), u.event_type.as_deref()), ("x\ny", Some("i"), Some("t")));
        assert_eq!((u.retry, u.private), (Some(10), true));
        assert_eq!(
            (updates[1].event_type.as_deref(), updates[1].retry, updates[1].private),
            (Some("e"), Some(15), false)
        );
        assert_eq!((updates[2].id.as_deref(), updates[2].event_type.as_deref()), (None, None));
    }

    #[test]
    fn names_the_line_of_a_bad_update() {
        for (body, line) in [
            ("{\"topic\":\"a\"}\nnot json", "line 2"),
            ("{\"topic\":\"a\"}\n\n{\"topic\":\"a\",\"typo\":1}", "line 3"),
            ("{\"topic\":\"a\",\"retry\":\"-1\"}", "line 1"),
            ("[\"a\"]", "line 1"),
        ] {
            let err = parse(body).unwrap_err();
            assert_eq!(err.kind(), FailureKind::BadRequest, "{body}");
            assert!(err.to_string().starts_with(&format!("{line}: ")), "{body}: {err}");
        }
    }

    #[test]
    fn refuses_too_many_lines_and_too_many_topics() {
        let limits = Limits { max_batch_updates: 2, ..Limits::default() };
        let err = parse_ndjson(b"{\"topic\":\"a\"}\n{\"topic\":\"a\"}\n{\"topic\":\"a\"}", &limits).unwrap_err();
        assert_eq!(err.kind(), FailureKind::TooLarge);
        assert!(err.to_string().contains("more than 2 updates"), "{err}");
        let topics = vec!["t"; Limits::default().max_topics_per_publish + 1];
        let err = parse(&serde_json::json!({ "topic": topics }).to_string()).unwrap_err();
        assert_eq!(err.kind(), FailureKind::TooLarge);
    }
}
