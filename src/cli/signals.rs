//! SIGINT and SIGTERM during a build (the only module importing `signal_hook`): the first one asks the build to
//! stop (`pipeline::interrupt`), which then removes its partial files and exits with 128 + the signal's number;
//! a second one ends the process at once with that code (the next build removes what it left).

use std::sync::atomic::AtomicBool;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

use crate::pipeline::interrupt;

/// Set by the first signal; arms the immediate exit on the second.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Installs the handlers. A handler that cannot be installed leaves that signal's default action (the
/// process ends at once; the next build removes its leftovers), so failure is not worth stopping for.
pub fn install() {
    for signal in [SIGINT, SIGTERM] {
        // Order matters: the exit is checked before the first signal arms it.
        let _ = flag::register_conditional_shutdown(signal, 128 + signal, &STOPPING);
        let _ = flag::register(signal, &STOPPING);
        let _ = flag::register_usize(signal, interrupt::slot(), signal as usize);
    }
}
