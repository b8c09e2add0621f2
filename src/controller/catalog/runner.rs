//! The catalog's reconcile loop.
//!
//! kube's `Controller` keeps, for every object queued, a scheduler entry and
//! a timer slot (the object's reference and reason, in a hash table and a
//! slab) in tables it never gives back. A catalog's entities are all queued
//! at once when the operator starts (each is looked at again), so at
//! 100,000 entities those tables stayed at their largest for as long as the
//! operator ran. This loop keeps one key per queued entity, gives its tables
//! back once they are empty, and does what the catalog needs of a
//! controller:
//!
//! - an entity queued again while it waits is reconciled once;
//! - an entity is never reconciled twice at once: queued while it is being
//!   reconciled, it is reconciled again after;
//! - at most `concurrency` reconciles run at a time, in the order queued;
//! - a reconcile may ask to be looked at again after a while; the earliest
//!   such time of an entity counts, and any reconcile of it replaces it;
//! - on shutdown no reconcile starts and the running ones finish.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::catalog::cached::Key;

/// The entities waiting to be reconciled, and those being reconciled.
#[derive(Default)]
pub struct Queue {
    state: Mutex<State>,
    added: Notify,
}

#[derive(Default)]
struct State {
    /// Waiting, in the order queued; each once (`waiting`).
    order: VecDeque<Key>,
    waiting: HashSet<Key>,
    /// Being reconciled.
    running: HashSet<Key>,
    /// Queued while being reconciled: queued again when done.
    again: HashSet<Key>,
    /// When each entity that asked to be looked at again is due, and the
    /// same ordered by time.
    due: HashMap<Key, Instant>,
    by_time: BTreeSet<(Instant, Key)>,
}

/// Gives a large collection's memory back once it is empty: one that held
/// the whole catalog would otherwise keep its table. A small one is kept,
/// so a queue that empties and fills again all the time does not allocate
/// each time.
fn let_go<T: Default>(collection: &mut T, is_empty: impl Fn(&T) -> bool, capacity: impl Fn(&T) -> usize) {
    if is_empty(collection) && capacity(collection) > KEPT {
        *collection = T::default();
    }
}

/// How many entries an empty collection keeps room for.
const KEPT: usize = 64;

impl State {
    fn add(&mut self, key: Key) {
        if self.running.contains(&key) {
            self.again.insert(key);
        } else if self.waiting.insert(key.clone()) {
            self.order.push_back(key);
        }
    }

    fn take(&mut self) -> Option<Key> {
        let key = self.order.pop_front()?;
        self.waiting.remove(&key);
        if let Some(at) = self.due.remove(&key) {
            self.by_time.remove(&(at, key.clone()));
        }
        let_go(&mut self.order, VecDeque::is_empty, VecDeque::capacity);
        let_go(&mut self.waiting, HashSet::is_empty, HashSet::capacity);
        self.running.insert(key.clone());
        Some(key)
    }

    fn done(&mut self, key: Key, look_again: Option<Instant>) {
        self.running.remove(&key);
        let_go(&mut self.running, HashSet::is_empty, HashSet::capacity);
        if let Some(at) = look_again {
            self.later(key.clone(), at);
        }
        if self.again.remove(&key) {
            let_go(&mut self.again, HashSet::is_empty, HashSet::capacity);
            self.add(key);
        }
    }

    fn later(&mut self, key: Key, at: Instant) {
        match self.due.get(&key) {
            Some(due) if *due <= at => {}
            Some(due) => {
                self.by_time.remove(&(*due, key.clone()));
                self.due.insert(key.clone(), at);
                self.by_time.insert((at, key));
            }
            None => {
                self.due.insert(key.clone(), at);
                self.by_time.insert((at, key));
            }
        }
    }

    /// Queues every entity due by `now`; returns when the next one is due.
    fn promote(&mut self, now: Instant) -> Option<Instant> {
        while let Some((at, _)) = self.by_time.first()
            && *at <= now
        {
            if let Some((_, key)) = self.by_time.pop_first() {
                self.due.remove(&key);
                self.add(key);
            }
        }
        let_go(&mut self.due, HashMap::is_empty, HashMap::capacity);
        self.by_time.first().map(|(at, _)| *at)
    }
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `key` to be reconciled.
    pub fn add(&self, key: Key) {
        self.state().add(key);
        self.added.notify_one();
    }

    /// How many entities wait (not counting those being reconciled).
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.state().order.len()
    }
}

/// Reconciles what `queue` holds, `concurrency` at a time, until `shutdown`;
/// then lets the running reconciles finish. `reconcile` says when to look
/// at the entity again, if it should be.
pub async fn run<F, Fut>(queue: &Queue, concurrency: usize, shutdown: impl Future<Output = ()>, reconcile: F)
where
    F: Fn(Key) -> Fut,
    Fut: Future<Output = Option<Duration>>,
{
    let mut running = FuturesUnordered::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Reconciles that end without waiting (an entity already gone) use
        // no budget of their own; this lets the rest of the task's work
        // (the watch) run between them.
        tokio::task::coop::consume_budget().await;
        let next_due = {
            let mut state = queue.state();
            let next_due = state.promote(Instant::now());
            while running.len() < concurrency.max(1)
                && let Some(key) = state.take()
            {
                let reconciled = reconcile(key.clone());
                running.push(async move { (key, reconciled.await) });
            }
            next_due
        };
        let wake = async {
            match next_due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // Shutdown first: once it has come, nothing more starts.
            biased;
            () = &mut shutdown => break,
            Some((key, look_again)) = running.next() => {
                // A wait past what a clock can hold is no wait.
                let at = look_again.and_then(|wait: Duration| Instant::now().checked_add(wait));
                queue.state().done(key, at);
            }
            () = wake => {}
            () = queue.added.notified() => {}
        }
    }
    while running.next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn key(name: &str) -> Key {
        Key::new("default", name)
    }

    /// What the reconciles did: each run's key in the order they started,
    /// and the most that ran at once.
    #[derive(Default)]
    struct Seen {
        started: Mutex<Vec<String>>,
        now: AtomicUsize,
        most: AtomicUsize,
        /// Being reconciled, and any key that started while it was.
        running: Mutex<HashSet<String>>,
        twice: Mutex<Vec<String>>,
    }

    impl Seen {
        fn started(&self) -> Vec<String> {
            self.started.lock().unwrap().clone()
        }
    }

    /// Runs `queue` until `until` says stop, each reconcile taking `took`
    /// milliseconds and asking to be looked at again after what `again` says.
    async fn run_for(
        queue: &Queue,
        concurrency: usize,
        seen: &Arc<Seen>,
        took: impl Fn(&Key) -> u64,
        again: impl Fn(&Key) -> Option<Duration>,
        until: Duration,
    ) {
        let seen = seen.clone();
        run(queue, concurrency, tokio::time::sleep(until), move |key| {
            let seen = seen.clone();
            let look_again = again(&key);
            let took = Duration::from_millis(took(&key));
            async move {
                let name = key.name.to_string();
                seen.started.lock().unwrap().push(name.clone());
                if !seen.running.lock().unwrap().insert(name.clone()) {
                    seen.twice.lock().unwrap().push(name.clone());
                }
                let now = seen.now.fetch_add(1, Ordering::SeqCst) + 1;
                seen.most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(took).await;
                seen.now.fetch_sub(1, Ordering::SeqCst);
                seen.running.lock().unwrap().remove(&name);
                look_again
            }
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_entity_queued_again_while_it_waits_is_reconciled_once_in_the_order_queued() {
        let queue = Queue::default();
        for name in ["a", "b", "a", "c", "b", "a"] {
            queue.add(key(name));
        }
        let seen = Arc::default();
        run_for(&queue, 1, &seen, |_| 10, |_| None, Duration::from_secs(1)).await;
        assert_eq!(seen.started(), ["a", "b", "c"]);
        assert_eq!(queue.waiting(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_concurrency_run_at_once_and_never_one_entity_twice_at_once() {
        let queue = Arc::new(Queue::default());
        for i in 0..20 {
            queue.add(key(&format!("e-{i}")));
        }
        // Queued again while its first run is long and the other slots
        // are free: run once more, after.
        let adding = queue.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            adding.add(key("e-0"));
            adding.add(key("e-0"));
        });
        let seen: Arc<Seen> = Arc::default();
        let took = |key: &Key| if &*key.name == "e-0" { 100 } else { 1 };
        run_for(&queue, 4, &seen, took, |_| None, Duration::from_secs(1)).await;
        let started = seen.started();
        assert_eq!(started.len(), 21, "{started:?}");
        assert_eq!(started.iter().filter(|name| *name == "e-0").count(), 2);
        assert_eq!(seen.most.load(Ordering::SeqCst), 4);
        assert_eq!(*seen.twice.lock().unwrap(), Vec::<String>::new(), "{started:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_entity_that_asks_is_looked_at_again_after_its_wait() {
        let queue = Queue::default();
        queue.add(key("progressing"));
        queue.add(key("current"));
        let seen = Arc::default();
        let again = |key: &Key| (&*key.name == "progressing").then_some(Duration::from_secs(60));
        run_for(&queue, 2, &seen, |_| 1, again, Duration::from_secs(150)).await;
        // At 0 s, 60 s and 120 s; `current` once.
        assert_eq!(
            seen.started(),
            ["progressing", "current", "progressing", "progressing"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reconcile_before_an_entity_is_due_replaces_its_wait() {
        let queue = Arc::new(Queue::default());
        queue.add(key("web"));
        let adding = queue.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            adding.add(key("web"));
        });
        let seen = Arc::default();
        let calls = AtomicUsize::new(0);
        // The first run asks for 60 s; the one at 30 s asks for nothing.
        let again = |_: &Key| (calls.fetch_add(1, Ordering::SeqCst) == 0).then_some(Duration::from_secs(60));
        run_for(&queue, 1, &seen, |_| 1, again, Duration::from_secs(120)).await;
        assert_eq!(seen.started(), ["web", "web"]);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_starts_nothing_more_and_lets_running_reconciles_finish() {
        let queue = Queue::default();
        for i in 0..10 {
            queue.add(key(&format!("e-{i}")));
        }
        let seen: Arc<Seen> = Arc::default();
        run_for(&queue, 2, &seen, |_| 10_000, |_| None, Duration::from_secs(15)).await;
        // Two at 0 s, two at 10 s; the second two finish after the stop.
        assert_eq!(seen.started(), ["e-0", "e-1", "e-2", "e-3"]);
        assert_eq!(
            seen.now.load(Ordering::SeqCst),
            0,
            "every started reconcile finished"
        );
        assert_eq!(queue.waiting(), 6);
    }

    #[test]
    fn the_tables_are_given_back_once_empty() {
        let mut state = State::default();
        for i in 0..10_000 {
            state.add(key(&format!("e-{i}")));
        }
        while let Some(key) = state.take() {
            state.done(key, None);
        }
        assert!(state.order.capacity() <= KEPT, "{}", state.order.capacity());
        assert!(state.waiting.capacity() <= KEPT, "{}", state.waiting.capacity());
        assert!(state.running.capacity() <= KEPT, "{}", state.running.capacity());
    }
}
