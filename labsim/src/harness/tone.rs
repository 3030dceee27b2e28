//! The colours of event kinds, alike in the terminal (`LAB_TRACE=1`) and the HTML timeline.

/// The families of event kinds that share a colour, in the terminal and in the timeline.
#[derive(Clone, Copy)]
pub(super) enum Tone {
    Election,
    Leader,
    Apply,
    Failure,
    Snapshot,
    Net,
}

impl Tone {
    /// The tone of a kind (stable, so a kind has the same colour in every run), if it has one.
    pub(super) fn of(kind: &str) -> Option<Tone> {
        Some(match kind {
            "election" | "vote" => Tone::Election,
            "leader" => Tone::Leader,
            "commit" | "apply" => Tone::Apply,
            "crash" | "drop" | "error" | "warn" | "failure" => Tone::Failure,
            "snapshot" => Tone::Snapshot,
            "net" => Tone::Net,
            _ => return None,
        })
    }

    /// ANSI escape that starts the tone's colour.
    pub(super) fn ansi(self) -> &'static str {
        match self {
            Tone::Election => "\x1b[33m",
            Tone::Leader => "\x1b[1;32m",
            Tone::Apply => "\x1b[36m",
            Tone::Failure => "\x1b[31m",
            Tone::Snapshot => "\x1b[35m",
            Tone::Net => "\x1b[34m",
        }
    }

    /// Background colour in the HTML timeline.
    pub(super) fn html(self) -> &'static str {
        match self {
            Tone::Election => "#fff2b3",
            Tone::Leader => "#b7e4b0",
            Tone::Apply => "#c9eef5",
            Tone::Failure => "#f4b4b4",
            Tone::Snapshot => "#e6ccf2",
            Tone::Net => "#cfd8f7",
        }
    }
}
