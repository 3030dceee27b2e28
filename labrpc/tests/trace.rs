//! The network's events in a run's trace.

use std::time::Duration;

use labrpc::{sim, Network, Rpc};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Ping;

impl Rpc for Ping {
    type Reply = ();
    const NAME: &'static str = "P.Ping";
}

/// A call that gets no reply is traced at the time it was sent, not when the caller found
/// out, so a timeline shows the drop while its link was down.
#[test]
fn a_dropped_call_is_stamped_when_it_was_sent() {
    let trace = sim::trace::Trace::new(false);
    let mut settings = sim::RunSettings::new(3);
    settings.subscriber = Some(trace.clone().into());
    sim::run(&settings, || async {
        let net = Network::new();
        let end = net.make_end("e"); // disabled: the call fails after 0-99 ms
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(end.call(&Ping).await.is_err());
        tracing::info!(kind = "later", "after the failure");
    })
    .unwrap();
    let events = trace.events();
    let drop = events.iter().find(|e| e.kind == "drop").unwrap();
    assert_eq!(drop.at, Duration::from_secs(1), "{drop:?}");
    assert!(
        drop.text.contains("(sent at 1.000 s, known at 1."),
        "{drop:?}"
    );
    let later = events.iter().position(|e| e.kind == "later").unwrap();
    let dropped = events.iter().position(|e| e.kind == "drop").unwrap();
    assert!(dropped < later, "events are in time order: {events:?}");
}
