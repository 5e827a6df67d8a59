//! Cases on worker threads, rows to one writer in work order. Each case streams its rows through its own small
//! bounded channel; the writer drains the channels strictly in work order; a worker starts a case only while it
//! is within a window of the case being written. So memory stays bounded however uneven the cases are (a worker
//! ahead of the writer waits, it never piles up rows), there is no batch barrier (a worker takes the next case
//! as soon as it hands the last rows of its case over), and the written order never depends on timing.
//!
//! Case workers are plain threads, not rayon tasks: they block on their channel, and a rayon thread that
//! blocks while it waits in a join could hold up the very case the writer needs (deadlock). The slices of a
//! case are rendered on the build's rayon pool, whose tasks never block.

use std::collections::BTreeMap;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::case::{CaseError, CaseOutput, RowSink, Stopped};
use super::error::BuildError;
use super::interrupt;
use super::writer::CaseWriter;
use crate::record::Row;

/// Row batches a case may queue ahead of the writer before its worker waits.
const QUEUED_BATCHES: usize = 2;

/// How often the waiting writer looks for a stop request (SIGINT/SIGTERM, `interrupt.rs`).
const STOP_POLL: Duration = Duration::from_millis(100);

/// `Err(Interrupted)` once a signal asked the build to stop.
fn check_interrupt() -> Result<(), BuildError> {
    match interrupt::requested() {
        Some(signal) => Err(BuildError::Interrupted { signal }),
        None => Ok(()),
    }
}

/// What a case worker hands the writer.
enum Message {
    Rows(Vec<Row>),
    Done(Result<CaseOutput, String>),
}

#[derive(Default)]
struct State {
    /// Next position of `order` a worker takes.
    next: usize,
    /// Position the writer is writing.
    writing: usize,
    /// Channels of started cases not yet picked up by the writer, by position.
    started: BTreeMap<usize, Receiver<Message>>,
    /// The writer has stopped (error or `--fail-fast`): workers take no more cases.
    stopped: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker that panicked while holding the lock left nothing half-updated that matters here.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'g>(&self, guard: MutexGuard<'g, State>) -> MutexGuard<'g, State> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    /// [`Shared::wait`] for at most [`STOP_POLL`].
    fn wait_a_while<'g>(&self, guard: MutexGuard<'g, State>) -> MutexGuard<'g, State> {
        match self.changed.wait_timeout(guard, STOP_POLL) {
            Ok((guard, _)) => guard,
            Err(e) => e.into_inner().0,
        }
    }

    /// Stops the workers: no new cases, and every queued channel closed so a waiting sender returns.
    fn stop(&self) {
        let mut state = self.lock();
        state.stopped = true;
        state.started.clear();
        self.changed.notify_all();
    }
}

/// Builds one case (by its index in the plan's work list), streaming its rows to the sink.
pub(super) type BuildCase<'a> =
    dyn Fn(usize, &mut RowSink) -> Result<CaseOutput, CaseError> + Sync + 'a;

/// Builds the cases `order` (indices into the plan's work list) on `workers` threads and hands them to
/// `writer` in that order.
pub(super) fn run(
    build: &BuildCase,
    order: &[usize],
    workers: usize,
    writer: &mut dyn CaseWriter,
) -> Result<(), BuildError> {
    let shared = Shared {
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
    };
    let window = 2 * workers.max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| work_cases(build, order, window, &shared));
        }
        let written = write_cases(order, &shared, writer);
        shared.stop();
        written
    })
}

/// A worker: takes the next case within the window, builds it, streams its rows.
fn work_cases(build: &BuildCase, order: &[usize], window: usize, shared: &Shared) {
    loop {
        let (position, sender) = {
            let mut state = shared.lock();
            while !state.stopped && state.next < order.len() && state.next >= state.writing + window
            {
                state = shared.wait(state);
            }
            if state.stopped || state.next >= order.len() {
                return;
            }
            let position = state.next;
            state.next += 1;
            let (sender, receiver) = sync_channel(QUEUED_BATCHES);
            state.started.insert(position, receiver);
            shared.changed.notify_all();
            (position, sender)
        };
        let mut send = |rows: Vec<Row>| sender.send(Message::Rows(rows)).map_err(|_| Stopped);
        let done = match build(order[position], &mut send) {
            Ok(output) => Ok(output),
            Err(CaseError::Stopped(_)) => return,
            Err(e) => Err(e.to_string()),
        };
        if sender.send(Message::Done(done)).is_err() {
            return;
        }
    }
}

/// The writer: drains each case's channel in order.
fn write_cases(
    order: &[usize],
    shared: &Shared,
    writer: &mut dyn CaseWriter,
) -> Result<(), BuildError> {
    for (position, &index) in order.iter().enumerate() {
        let receiver = {
            let mut state = shared.lock();
            state.writing = position;
            shared.changed.notify_all();
            loop {
                if let Some(receiver) = state.started.remove(&position) {
                    break receiver;
                }
                check_interrupt()?;
                state = shared.wait_a_while(state);
            }
        };
        loop {
            check_interrupt()?;
            match receiver.recv_timeout(STOP_POLL) {
                Ok(Message::Rows(rows)) => writer.rows(index, rows)?,
                Ok(Message::Done(result)) => {
                    writer.case_done(index, result)?;
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {}
                // The worker went away without finishing the case: it panicked, and the scope re-raises it.
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(BuildError::WorkerLost { index })
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Records every call in order.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<(usize, String)>,
        fail_at_case: Option<usize>,
    }

    impl CaseWriter for Recorder {
        fn rows(&mut self, index: usize, rows: Vec<Row>) -> Result<(), BuildError> {
            let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
            self.calls.push((index, ids.join(",")));
            Ok(())
        }

        fn case_done(
            &mut self,
            index: usize,
            result: Result<CaseOutput, String>,
        ) -> Result<(), BuildError> {
            self.calls.push((index, format!("done {}", result.is_ok())));
            if self.fail_at_case == Some(index) {
                return Err(BuildError::FailFast(format!("case {index}")));
            }
            Ok(())
        }
    }

    fn row(id: String) -> Row {
        Row {
            id,
            ..Row::default()
        }
    }

    /// Case `i` sends `i % 4` batches of two rows, after a delay that makes later cases finish first; case 5
    /// fails. Counts how many cases are being built at once.
    fn uneven_case<'a>(
        in_flight: &'a AtomicUsize,
        most_in_flight: &'a AtomicUsize,
    ) -> impl Fn(usize, &mut RowSink) -> Result<CaseOutput, CaseError> + Sync + 'a {
        move |i, sink| {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most_in_flight.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(((7 - i % 8) * 3) as u64));
            let result = (|| {
                for b in 0..i % 4 {
                    sink(vec![row(format!("{i}.{b}.0")), row(format!("{i}.{b}.1"))])?;
                }
                if i == 5 {
                    return Err(CaseError::UnknownCollection("nowhere".into()));
                }
                Ok(CaseOutput::default())
            })();
            in_flight.fetch_sub(1, Ordering::SeqCst);
            result
        }
    }

    fn expected(order: &[usize]) -> Vec<(usize, String)> {
        let mut calls = Vec::new();
        for &i in order {
            for b in 0..i % 4 {
                calls.push((i, format!("{i}.{b}.0,{i}.{b}.1")));
            }
            calls.push((i, format!("done {}", i != 5)));
        }
        calls
    }

    #[test]
    fn the_writer_sees_every_case_in_order_whatever_the_thread_count() {
        let order: Vec<usize> = (0..24).collect();
        for workers in [1, 2, 3, 8] {
            let (in_flight, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let build = uneven_case(&in_flight, &most);
            let mut writer = Recorder::default();
            run(&build, &order, workers, &mut writer).expect("runs");
            assert_eq!(writer.calls, expected(&order), "{workers} workers");
            assert!(most.load(Ordering::SeqCst) <= workers);
        }
    }

    #[test]
    fn a_subset_of_cases_is_written_in_the_order_given() {
        let order = vec![2, 3, 7, 11, 12];
        let (in_flight, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let build = uneven_case(&in_flight, &most);
        let mut writer = Recorder::default();
        run(&build, &order, 2, &mut writer).expect("runs");
        assert_eq!(writer.calls, expected(&order));
    }

    #[test]
    fn a_stopped_writer_stops_the_workers() {
        let order: Vec<usize> = (0..40).collect();
        let started = AtomicUsize::new(0);
        let build = |i: usize, sink: &mut RowSink| {
            started.fetch_add(1, Ordering::SeqCst);
            sink(vec![row(format!("{i}"))])?;
            Ok(CaseOutput::default())
        };
        let mut writer = Recorder {
            fail_at_case: Some(3),
            ..Recorder::default()
        };
        let err = run(&build, &order, 2, &mut writer).expect_err("writer stops");
        assert!(err.to_string().contains("case 3"), "{err}");
        assert_eq!(writer.calls.last(), Some(&(3, "done true".to_string())));
        // Workers never run further ahead of the writer than the window (2 × workers cases).
        assert!(started.load(Ordering::SeqCst) <= 3 + 1 + 4, "{started:?}");
    }
}
