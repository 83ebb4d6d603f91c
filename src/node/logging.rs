//! Log lines stamped with the simulated time (when inside a turmoil
//! simulation; uptime otherwise) and, through the `node` span every node
//! task runs in, the node's id. Filtered by `RUST_LOG`; silent but for
//! errors when it is unset.

use std::fmt;
use std::io::IsTerminal;

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, Uptime};
use tracing_subscriber::EnvFilter;

/// Formats the timestamp as the simulation's elapsed time, `12.345678s`.
#[derive(Clone, Debug, Default)]
pub struct SimTime {
    /// Real processes have no simulated time; they print their uptime.
    uptime: Uptime,
}

impl FormatTime for SimTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        match turmoil::sim_elapsed() {
            Some(d) => write!(w, "{:>4}.{:06}s", d.as_secs(), d.subsec_micros()),
            None => self.uptime.format_time(w),
        }
    }
}

/// The filter `RUST_LOG` asks for, or errors only.
pub fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("error"))
}

/// Install the global subscriber (stderr) once; later calls do nothing, so
/// every test and every run may call it.
pub fn init() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(env_filter())
        .with_timer(SimTime::default())
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
