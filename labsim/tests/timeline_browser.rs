//! The HTML timeline of a failing run, opened in a real browser: headless Chromium renders it,
//! and the rendered page holds every peer's column and events. Needs `chromium` on the PATH
//! (Debian: `apt-get install chromium`), hence ignored by default:
//! `cargo test -p labsim --test timeline_browser -- --ignored`.

use std::process::Command;
use std::time::Duration;

use labsim::{self as sim, trace, Node};

#[test]
#[ignore = "needs chromium; run with -- --ignored"]
fn failing_runs_timeline_renders_in_chromium_with_every_peer() {
    let t = trace::Trace::new(false);
    let mut settings = sim::RunSettings::new(11);
    settings.subscriber = Some(t.clone().into());
    let failure = sim::run(&settings, || async {
        for i in 0..3 {
            let node = Node::new(format!("peer{i}"));
            node.spawn(async move {
                tokio::time::sleep(Duration::from_millis(100 * (i + 1))).await;
                tracing::info!(kind = "election", "peer {i} times out");
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        panic!("no leader");
    })
    .unwrap_err();
    assert!(failure.to_string().contains("no leader"));
    let path =
        sim::harness::write_html("browser-test-timeline", "browser test", &t.events()).unwrap();
    let png = path.with_extension("png");
    let url = format!("file://{}", path.display());
    let dom = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            &url,
        ])
        .output()
        .expect("chromium is not installed");
    let dom = String::from_utf8_lossy(&dom.stdout);
    for i in 0..3 {
        assert!(
            dom.contains(&format!("<th>peer{i}</th>")),
            "peer{i} column missing"
        );
        assert!(
            dom.contains(&format!("peer {i} times out")),
            "peer{i}'s event missing"
        );
    }
    let shot = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1200,800",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(shot.status.success());
    assert!(
        std::fs::metadata(&png).unwrap().len() > 10_000,
        "an empty screenshot"
    );
    println!("screenshot: {}", png.display());
}
