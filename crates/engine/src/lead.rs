//! Running a singleton task on the one replica that leads it.
//!
//! Replicas sharing a database ask for the task's lock every `check`; the one holding it runs
//! the work, checks every `check` that it still holds the lock (a lost database session loses
//! it) and stops the work when it does not.

use crate::Engine;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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
                            return;
                        }
                        _ = &mut running => return,
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
