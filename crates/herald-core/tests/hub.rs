//! The hub's fan-out, replay and overflow rules, through its public API (memory history).

use std::sync::Arc;

use herald_core::{
    Cursor, Ended, Hub, HubConfig, Matcher, PublishError, ReadAccess, Retention, Subscription, Update, UpdateError,
};

fn count(n: u64) -> Retention {
    Retention { max_events: Some(n), max_age: None, max_bytes: None }
}

fn hub(history: u64, queue: usize) -> Arc<Hub> {
    Hub::new(HubConfig { retention: count(history), queue_capacity: queue, ..Default::default() })
}

fn update(topic: &str, data: &str) -> Update {
    Update { topics: vec![topic.into()], data: data.into(), ..Default::default() }
}

fn exact(topics: &[&str]) -> Vec<Matcher> {
    topics.iter().map(|t| Matcher::exact(t).unwrap()).collect()
}

/// The data of the events waiting for `sub`, once the hub offered everything published so far.
async fn drain(hub: &Hub, sub: &mut Subscription) -> Vec<String> {
    hub.flush().await;
    std::iter::from_fn(|| sub.try_recv()).map(|e| e.data.clone()).collect()
}

/// `hub`, once it offered everything published so far.
async fn flushed(hub: &Hub) -> &Hub {
    hub.flush().await;
    hub
}

#[tokio::test]
async fn events_reach_matching_subscribers_once_and_in_order() {
    let hub = hub(100, 100);
    let mut a = hub.subscribe(exact(&["a", "b"]), ReadAccess::public_only(), None).await.unwrap();
    let mut all = hub.subscribe(vec![Matcher::exact("*").unwrap()], ReadAccess::public_only(), None).await.unwrap();
    let mut tpl =
        hub.subscribe(vec![Matcher::legacy_topic("/x/{id}").unwrap()], ReadAccess::public_only(), None).await.unwrap();
    hub.publish(update("a", "1")).await.unwrap();
    hub.publish(Update { topics: vec!["a".into(), "b".into()], data: "2".into(), ..Default::default() }).await.unwrap();
    hub.publish(update("/x/9", "3")).await.unwrap();
    hub.publish(update("c", "4")).await.unwrap();
    assert_eq!(drain(&hub, &mut a).await, ["1", "2"]);
    assert_eq!(drain(&hub, &mut all).await, ["1", "2", "3", "4"]);
    assert_eq!(drain(&hub, &mut tpl).await, ["3"]);
    assert_eq!(flushed(&hub).await.stats().delivered, 2 + 4 + 1);
}

#[tokio::test]
async fn generated_ids_are_unique_and_given_ids_kept() {
    let hub = hub(10, 10);
    let a = hub.publish(update("t", "")).await.unwrap();
    let b = hub.publish(update("t", "")).await.unwrap();
    assert!(a.id.starts_with("urn:uuid:") && a.id != b.id);
    let c = hub.publish(Update { id: Some("mine".into()), ..update("t", "") }).await.unwrap();
    assert_eq!(&*c.id, "mine");
    assert!(a.seq < b.seq && b.seq < c.seq);
}

#[tokio::test]
async fn replay_resumes_after_the_given_id_and_reports_where() {
    let hub = hub(100, 100);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(hub.publish(update("t", &i.to_string())).await.unwrap().id.clone());
    }
    hub.publish(update("other", "x")).await.unwrap();
    let mut sub =
        hub.subscribe(exact(&["t"]), ReadAccess::public_only(), Some(Cursor::After(ids[1].to_string()))).await.unwrap();
    assert_eq!(sub.resumed_from(), Some(&*ids[1]));
    hub.publish(update("t", "live")).await.unwrap();
    assert_eq!(drain(&hub, &mut sub).await, ["2", "3", "4", "live"]);

    let mut from_start = hub.subscribe(exact(&["t"]), ReadAccess::public_only(), Some(Cursor::Earliest)).await.unwrap();
    assert_eq!(from_start.resumed_from(), Some("earliest"));
    assert_eq!(drain(&hub, &mut from_start).await, ["0", "1", "2", "3", "4", "live"]);
}

#[tokio::test]
async fn a_trimmed_id_replays_what_is_left_and_says_earliest() {
    let hub = hub(3, 100);
    let first = hub.publish(update("t", "0")).await.unwrap();
    for i in 1..5 {
        hub.publish(update("t", &i.to_string())).await.unwrap();
    }
    let mut sub = hub
        .subscribe(exact(&["t"]), ReadAccess::public_only(), Some(Cursor::After(first.id.to_string())))
        .await
        .unwrap();
    assert_eq!(sub.resumed_from(), Some("earliest"));
    assert_eq!(drain(&hub, &mut sub).await, ["2", "3", "4"]);
}

#[tokio::test]
async fn a_full_queue_disconnects_only_that_subscriber() {
    let hub = hub(100, 2);
    let mut slow = hub.subscribe(exact(&["t"]), ReadAccess::public_only(), None).await.unwrap();
    let mut fast = hub.subscribe(exact(&["t"]), ReadAccess::public_only(), None).await.unwrap();
    for i in 0..2 {
        hub.publish(update("t", &i.to_string())).await.unwrap();
    }
    assert_eq!(drain(&hub, &mut fast).await, ["0", "1"]);
    hub.publish(update("t", "2")).await.unwrap();
    assert_eq!(drain(&hub, &mut fast).await, ["2"]);
    assert_eq!(flushed(&hub).await.stats().overflowed, 1);
    // The slow one keeps what it had, then its stream ends.
    assert_eq!(drain(&hub, &mut slow).await, ["0", "1"]);
    assert_eq!(slow.recv().await.unwrap_err(), Ended::Overflowed);
    assert_eq!(flushed(&hub).await.stats().subscribers, 1);
    hub.disconnect_all();
    assert_eq!(fast.recv().await.unwrap_err(), Ended::Closed);
}

#[tokio::test]
async fn private_updates_need_read_access_live_and_on_replay() {
    let hub = hub(100, 100);
    let mut anon = hub.subscribe(exact(&["t"]), ReadAccess::public_only(), None).await.unwrap();
    let rights = ReadAccess::with_private(exact(&["t"]));
    let mut allowed = hub.subscribe(exact(&["t"]), rights.clone(), None).await.unwrap();
    hub.publish(Update { private: true, ..update("t", "secret") }).await.unwrap();
    hub.publish(update("t", "public")).await.unwrap();
    assert_eq!(drain(&hub, &mut anon).await, ["public"]);
    assert_eq!(drain(&hub, &mut allowed).await, ["secret", "public"]);
    let mut anon_replay =
        hub.subscribe(exact(&["t"]), ReadAccess::public_only(), Some(Cursor::Earliest)).await.unwrap();
    assert_eq!(drain(&hub, &mut anon_replay).await, ["public"]);
    let mut allowed_replay = hub.subscribe(exact(&["t"]), rights, Some(Cursor::Earliest)).await.unwrap();
    assert_eq!(drain(&hub, &mut allowed_replay).await, ["secret", "public"]);
}

#[tokio::test]
async fn dropping_a_subscription_unregisters_it() {
    let hub = hub(10, 10);
    let a = hub.subscribe(exact(&["t"]), ReadAccess::public_only(), None).await.unwrap();
    let b = hub.subscribe(vec![Matcher::exact("*").unwrap()], ReadAccess::public_only(), None).await.unwrap();
    assert_eq!(flushed(&hub).await.stats().subscribers, 2);
    drop(a);
    drop(b);
    assert_eq!(flushed(&hub).await.stats().subscribers, 0);
    hub.publish(update("t", "x")).await.unwrap();
    assert_eq!(flushed(&hub).await.stats().delivered, 0);
}

#[tokio::test]
async fn invalid_updates_are_refused_and_not_recorded() {
    let hub = hub(10, 10);
    assert!(matches!(hub.publish(update("*", "x")).await, Err(PublishError::Invalid(UpdateError::WildcardTopic))));
    assert_eq!(flushed(&hub).await.stats().history_len, 0);
    assert_eq!(flushed(&hub).await.stats().published, 0);
}

#[tokio::test]
async fn with_a_dedup_window_a_retried_id_is_delivered_once() {
    let hub = Hub::new(HubConfig { dedup_window: Some(std::time::Duration::from_secs(60)), ..Default::default() });
    let mut sub = hub.subscribe(exact(&["t"]), ReadAccess::public_only(), None).await.unwrap();
    let with_id = |data: &str| Update { id: Some("order-1".into()), ..update("t", data) };
    let first = hub.publish(with_id("first")).await.unwrap();
    let retry = hub.publish(with_id("retry")).await.unwrap();
    assert_eq!((&*retry.id, retry.seq), (&*first.id, first.seq));
    hub.publish(update("t", "no id")).await.unwrap();
    assert_eq!(drain(&hub, &mut sub).await, ["first", "no id"]);
    assert_eq!(flushed(&hub).await.stats().published, 2);
    // Without a window, ids are not checked: the same id is published twice.
    let plain = hub_without_dedup();
    let mut sub = plain.subscribe(exact(&["t"]), ReadAccess::public_only(), None).await.unwrap();
    plain.publish(with_id("one")).await.unwrap();
    plain.publish(with_id("two")).await.unwrap();
    assert_eq!(drain(&plain, &mut sub).await, ["one", "two"]);
}

fn hub_without_dedup() -> Arc<Hub> {
    hub(100, 100)
}
