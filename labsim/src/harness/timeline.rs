//! The HTML timeline of a run: one column per node, one row per traced event, coloured by kind.

use std::fmt::Write as _;

use super::tone::Tone;
use super::trace::TraceEvent;

/// Background colour of a kind in the HTML timeline.
fn html_color(kind: &str) -> &'static str {
    Tone::of(kind).map_or("#eeeeee", Tone::html)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained HTML page: one column per node (in order of first appearance), one row
/// per event in time order, each event in its node's column and coloured by kind; a legend
/// and a filter box (plain CSS and a few lines of script) to hide kinds.
pub fn render_html(title: &str, events: &[TraceEvent]) -> String {
    let mut nodes: Vec<&str> = Vec::new();
    for e in events {
        if !nodes.contains(&e.node.as_str()) {
            nodes.push(&e.node);
        }
    }
    let mut kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:sans-serif;margin:1em}}table{{border-collapse:collapse;font-size:12px}}\
         th{{position:sticky;top:0;background:#333;color:#fff;padding:4px 8px}}\
         td{{border-bottom:1px solid #eee;padding:2px 6px;vertical-align:top;min-width:9em}}\
         td.t{{color:#666;text-align:right;font-family:monospace}}\
         .ev{{border-radius:3px;padding:1px 4px}}.k{{font-weight:bold;margin-right:4px}}\
         .legend span{{display:inline-block;padding:1px 6px;margin:2px;border-radius:3px}}\
         </style></head><body>\n<h1>{t}</h1>\n<p>{n} events, {p} nodes, virtual time \
         0 - {end:.3} s. Kinds (click to hide or show):</p><p class=\"legend\">",
        t = esc(title),
        n = events.len(),
        p = nodes.len(),
        end = events.last().map_or(0.0, |e| e.at.as_secs_f64())
    );
    for k in &kinds {
        let _ = write!(
            h,
            "<span style=\"background:{}\" onclick=\"toggle('{k}',this)\">{k}</span>",
            html_color(k),
            k = esc(k)
        );
    }
    h.push_str("</p>\n<table><tr><th>time (s)</th>");
    for n in &nodes {
        let _ = write!(h, "<th>{}</th>", esc(n));
    }
    h.push_str("</tr>\n");
    for e in events {
        let col = nodes.iter().position(|n| *n == e.node).unwrap_or(0);
        let _ = writeln!(
            h,
            "<tr class=\"k-{k}\"><td class=\"t\">{:.3}</td>{}<td><span class=\"ev\" \
             style=\"background:{}\"><span class=\"k\">{k}</span>{}</span></td>{}</tr>",
            e.at.as_secs_f64(),
            "<td></td>".repeat(col),
            html_color(&e.kind),
            esc(&e.text),
            "<td></td>".repeat(nodes.len() - col - 1),
            k = esc(&e.kind)
        );
    }
    h.push_str(
        "</table>\n<script>function toggle(k,el){var rows=document.querySelectorAll('tr.k-'+k);\
         var hide=el.style.opacity!=='0.3';el.style.opacity=hide?'0.3':'1';\
         rows.forEach(function(r){r.style.display=hide?'none':''});}</script>\n</body></html>\n",
    );
    h
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A column per node, in order of first appearance, each event in its node's column with
    /// its kind's colour, and text escaped.
    #[test]
    fn renders_a_column_per_node_and_escapes_text() {
        let event = |ms, node: &str, kind: &str, text: &str| TraceEvent {
            at: Duration::from_millis(ms),
            node: node.into(),
            kind: kind.into(),
            text: text.into(),
        };
        let events = [
            event(250, "peer7", "leader", "leader of term 3"),
            event(300, "tester", "failure", "expected <one> leader"),
        ];
        let html = render_html("t", &events);
        assert!(html.contains("<th>peer7</th><th>tester</th>"), "{html}");
        assert!(html.contains("#b7e4b0") && html.contains("leader of term 3"));
        assert!(html.contains("<td></td><td><span class=\"ev\" style=\"background:#f4b4b4\">"));
        assert!(html.contains("expected &lt;one&gt; leader"), "{html}");
    }
}
