//! A load generator for push hubs: Herald, and peers to compare it with (nchan, Pushpin, Faye).
//!
//! [`run`] opens many subscribers over SSE, WebSocket, long-polling or Bayeux (over a
//! WebSocket or long-polling), spread over several loopback source addresses and over topics,
//! waits until every one is ready, then publishes sequenced, timestamped messages (as fast as
//! possible or at a rate) and measures deliveries per second, publish-to-receive latency, lost,
//! duplicated and reordered messages, and, given the target's process ids, its memory per idle
//! connection and its CPU time per delivery.
//! [`churn`] instead keeps subscribers connecting and disconnecting for a set time and follows
//! the target's memory and open descriptors over it. [`storm`] restarts the target under
//! connected subscribers and measures how long each takes to be back and what it missed.
//! [`watch`] holds many spectators on a topic that another program publishes on (a demo, an
//! application) and checks that each received every event once and in order.

mod churn;
mod config;
mod http1;
mod net;
mod payload;
mod procstat;
mod publisher;
mod report;
mod run;
mod storm;
mod subscriber;
mod target;
mod tracker;
mod url;
mod watch;

pub use churn::{churn, ChurnReport, Sample};
pub use config::{loopback_sources, BenchConfig, Churn, Pace, PayloadStyle, Storm, Target, Transport};
pub use report::{Latency, Report};
pub use run::run;
pub use storm::{storm, StormReport, TargetSample};
pub use watch::{watch, Watch, WatchReport};
