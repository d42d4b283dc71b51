//! Commands from outside a running job (an operator's kill switch over HTTP) entering the
//! dataflow at the event time the job has reached.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{Scope, StreamVec};

use crate::event::{Command, Control};
use crate::source::SourceStats;
use crate::time::EpochClock;

/// Commands waiting to enter a job.
pub type CommandQueue = Arc<Mutex<VecDeque<Command>>>;

/// How often an idle live-control source looks at its queue (the source it follows wakes it
/// whenever its frontier moves).
const POLL: Duration = Duration::from_millis(5);

/// A source of [`Control`] records taken from `queue` (on worker 0; other workers' copies emit
/// nothing), stamped with the epoch `follow` (the tick source) has reached, so that a command
/// applies from the event time the job is at. Its frontier follows `follow`'s, so it never
/// holds the graph back, and it ends when `follow` ends.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::Ordering;
/// use timely::dataflow::operators::Capture;
/// use tradeflow_operators::live_control::{live_control, CommandQueue};
/// use tradeflow_operators::source::SourceStats;
/// use tradeflow_operators::testing::records;
/// use tradeflow_operators::{Command, EpochClock};
///
/// let queue = CommandQueue::default();
/// queue.lock().unwrap().push_back(Command::Halt);
/// let ticks = Arc::new(SourceStats::default());
/// ticks.frontier.store(42, Ordering::Release);
/// let follow = Arc::clone(&ticks);
/// let captured = timely::example(move |scope| {
///     // The tick source has reached epoch 42 and then finishes.
///     follow.frontier.store(u64::MAX, Ordering::Release);
///     live_control(scope, queue, follow, EpochClock::new(1_000)).capture()
/// });
/// let controls = records(captured);
/// assert_eq!(controls.len(), 1);
/// assert_eq!(controls[0].command, Command::Halt);
/// ```
pub fn live_control<'scope>(
    scope: Scope<'scope, u64>,
    queue: CommandQueue,
    follow: Arc<SourceStats>,
    clock: EpochClock,
) -> StreamVec<'scope, u64, Control> {
    source(scope, "LiveControl", move |initial, info| {
        let activator = scope.activator_for(Rc::clone(&info.address));
        let mut cap = (scope.index() == 0).then_some(initial);
        if cap.is_some() {
            // Polled alone, this source's frontier would trail the ticks' by up to a poll, and
            // the risk book (which reads control) with it.
            follow.add_follower(scope.worker().sync_activator_for(info.address.to_vec()));
        }
        let mut last_epoch = 0;
        move |output| {
            let Some(held) = cap.as_mut() else { return };
            let reached = follow.frontier.load(Ordering::Acquire);
            if reached != u64::MAX {
                last_epoch = last_epoch.max(reached);
            }
            let at = last_epoch.max(*held.time());
            let commands: Vec<Command> = queue.lock().map(|mut q| q.drain(..).collect()).unwrap_or_default();
            if !commands.is_empty() {
                let stamp = held.delayed(&at);
                let mut session = output.session(&stamp);
                for command in commands {
                    session.give(Control { ts: clock.start_of(at), command });
                }
            }
            if reached == u64::MAX {
                cap = None;
                return;
            }
            if at > *held.time() {
                held.downgrade(&at);
            }
            activator.activate_after(POLL);
        }
    })
}
