//! Running a singleton task on the one replica that leads it.
//!
//! Replicas sharing a database ask for the task's lock every `check`; the one holding it runs
//! the work, checks every `check` that it still holds the lock (a lost database session loses
//! it) and stops the work when it does not.

use crate::Engine;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The prefix of every PostgreSQL session's `application_name`, before the replica's name.
pub const APPLICATION_NAME_PREFIX: &str = "shipyard ";

/// The singleton tasks this process takes part in, and whether it leads each.
#[derive(Debug, Default)]
pub(crate) struct LeadRegistry {
    tasks: Mutex<BTreeMap<String, bool>>,
}

impl LeadRegistry {
    fn set(&self, task: &str, leading: bool) {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(task.to_owned(), leading);
        metrics::gauge!("shipyard_leader", "task" => task.to_owned()).set(if leading {
            1.0
        } else {
            0.0
        });
    }

    fn snapshot(&self) -> Vec<(String, bool)> {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(t, l)| (t.clone(), *l))
            .collect()
    }
}

/// Who leads one singleton task, as this process sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeadStatus {
    /// The task (`shipyard:mattermost-bot`, `shipyard:pr-comments`).
    pub task: String,
    /// Whether this process leads it.
    pub here: bool,
    /// The replica leading it, if any does (this one's name when it leads).
    pub replica: Option<String>,
}

impl Engine {
    /// The singleton tasks this process takes part in, and who leads each.
    pub async fn leads(&self) -> Vec<LeadStatus> {
        let mut out = Vec::new();
        for (task, here) in self.inner.leads.snapshot() {
            let replica = if here {
                Some(self.inner.settings.replica.clone())
            } else {
                match self.store().lead_holder(&task).await {
                    Ok(holder) => holder.map(|h| {
                        h.strip_prefix(APPLICATION_NAME_PREFIX)
                            .unwrap_or(&h)
                            .to_owned()
                    }),
                    Err(e) => {
                        tracing::debug!(error = %e, task, "could not read who leads");
                        None
                    }
                }
            };
            out.push(LeadStatus {
                task,
                here,
                replica,
            });
        }
        out
    }
}

/// Runs `work` while this process leads `task` (described as `what` in the log), starting it
/// again whenever the lead comes back. `on_lead` hears every change of leadership. Returns when
/// `stop` is cancelled, or when the work ends by itself.
pub async fn run_while_leading<W, F>(
    engine: &Engine,
    task: &str,
    what: &str,
    check: Duration,
    stop: CancellationToken,
    on_lead: impl Fn(bool),
    work: W,
) where
    W: Fn(CancellationToken) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let mut announced_follower = false;
    let on_lead = |leading: bool| {
        engine.inner.leads.set(task, leading);
        on_lead(leading);
    };
    on_lead(false);
    loop {
        match engine.try_lead(task).await {
            Ok(Some(mut lead)) => {
                tracing::info!("this process runs {what}");
                on_lead(true);
                announced_follower = false;
                let work_stop = stop.child_token();
                let mut running = tokio::spawn(work(work_stop.clone()));
                loop {
                    tokio::select! {
                        () = stop.cancelled() => {
                            let _ = running.await;
                            // Handed back now, not when the process ends: another replica
                            // takes over at its next check.
                            lead.release().await;
                            on_lead(false);
                            return;
                        }
                        _ = &mut running => {
                            lead.release().await;
                            on_lead(false);
                            return;
                        }
                        () = tokio::time::sleep(check) => {
                            if !lead.still_held().await {
                                tracing::warn!("lost the lead of {what} (database session gone); stopping it here");
                                work_stop.cancel();
                                let _ = running.await;
                                on_lead(false);
                                break;
                            }
                        }
                    }
                }
            }
            Ok(None) => {
                on_lead(false);
                if !announced_follower {
                    tracing::info!("another replica runs {what}");
                    announced_follower = true;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not ask the database who runs {what}");
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(check) => {}
        }
    }
}
