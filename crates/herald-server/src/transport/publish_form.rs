//! The Mercure publish form (`application/x-www-form-urlencoded`) read into an [`Update`].
//!
//! Fields: `topic` (one or more; the first is canonical), `data`, `id`, `type`, `retry`,
//! `private` (its presence marks the update private). Unknown fields are ignored, as the
//! protocol asks. [`super::publish`] admits the publisher and answers.

use herald_core::Update;

use crate::config::Limits;
use crate::form;
use crate::ops::{self, PublishFailure};

/// Turns the form fields into an [`Update`], refusing a flood of topics as it goes.
pub(crate) fn parse_update(body: &[u8], limits: &Limits) -> Result<Update, PublishFailure> {
    let mut update = Update::default();
    let mut data = None;
    for (name, value) in form::parse(body).map_err(PublishFailure::Malformed)? {
        match name.as_str() {
            "topic" => {
                ops::publish::check_topic_count(update.topics.len() + 1, limits)?;
                update.topics.push(value);
            }
            "data" => {
                data.get_or_insert(value);
            }
            "id" => {
                update.id.get_or_insert(value);
            }
            "type" => {
                update.event_type.get_or_insert(value);
            }
            "retry" if update.retry.is_none() => update.retry = Some(ops::publish::parse_retry(&value)?),
            "private" => update.private = true,
            _ => {}
        }
    }
    update.data = data.unwrap_or_default();
    update.event_type = update.event_type.filter(|t| !t.is_empty());
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::FailureKind;

    fn parse(body: &str) -> Result<Update, PublishFailure> {
        parse_update(body.as_bytes(), &Limits::default())
    }

    #[test]
    fn reads_every_field() {
        let u = parse("topic=a&topic=b&data=x%0Ay&id=i&type=t&retry=10&private=on&unknown=1").unwrap();
        assert_eq!(u.topics, ["a", "b"]);
        assert_eq!((u.data.as_str(), u.id.as_deref(), u.event_type.as_deref()), ("x\ny", Some("i"), Some("t")));
        assert_eq!((u.retry, u.private), (Some(10), true));
        assert!(!parse("topic=a").unwrap().private);
        assert!(parse("topic=a&private").unwrap().private);
    }

    #[test]
    fn refuses_bad_retry_and_a_flood_of_topics() {
        for bad in ["-1", "1.5", " 1", "", "1e3", "99999999999999999999999"] {
            let err = parse(&format!("topic=a&retry={bad}")).unwrap_err();
            assert_eq!(err.kind(), FailureKind::BadRequest, "retry={bad}");
        }
        let many = "topic=a&".repeat(Limits::default().max_topics_per_publish + 1);
        assert_eq!(parse(&many).unwrap_err().kind(), FailureKind::TooLarge);
    }
}
