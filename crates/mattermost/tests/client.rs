//! The REST client against the simulated Mattermost, over real sockets.

use serde_json::{Map, json};
use shipyard_mattermost::{Mattermost, MattermostError, MattermostOptions, NewPost};
use shipyard_sim::mattermost::{RestFault, SimMattermost};
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TOKEN: &str = "bot-token";

/// A sim with the bot `shipyard` (token [`TOKEN`]) and person `alice` in `acme/releases`.
struct World {
    sim: SimMattermost,
    bot: String,
    channel: String,
}

async fn world() -> std::io::Result<World> {
    let sim = SimMattermost::start().await?;
    let bot = sim.add_bot("shipyard", TOKEN);
    let alice = sim.add_user("alice");
    let channel = sim.add_channel("acme", "releases");
    sim.add_member(&channel, &bot);
    sim.add_member(&channel, &alice);
    Ok(World { sim, bot, channel })
}

fn options(url: &str, token: &str) -> MattermostOptions {
    let mut opts = MattermostOptions::new(url, token);
    opts.request_timeout = Duration::from_secs(5);
    opts.max_retries = 3;
    opts.retry_base = Duration::from_millis(10);
    opts.retry_cap = Duration::from_millis(50);
    opts.max_rate_limit_wait = Duration::from_secs(5);
    opts
}

fn client(sim: &SimMattermost) -> Result<Mattermost, MattermostError> {
    Mattermost::new(options(&sim.url(), TOKEN))
}

#[tokio::test]
async fn me_is_the_bot() -> TestResult {
    let w = world().await?;
    let me = client(&w.sim)?.me().await?;
    assert_eq!(me.id, w.bot);
    assert_eq!(me.username, "shipyard");
    assert!(me.is_bot);
    Ok(())
}

#[tokio::test]
async fn users_are_read_by_id() -> TestResult {
    let w = world().await?;
    let alice = w.sim.add_user("quinn");
    let mm = client(&w.sim)?;
    let user = mm.user(&alice).await?.expect("quinn exists");
    assert_eq!(user.username, "quinn");
    assert!(!user.is_bot);
    assert_eq!(mm.user("nosuchuserxxxxxxxxxxxxxxxx").await?, None);
    Ok(())
}

#[tokio::test]
async fn a_bad_token_is_unauthorized_with_the_servers_message() -> TestResult {
    let w = world().await?;
    let mm = Mattermost::new(options(&w.sim.url(), "wrong"))?;
    let err = mm.me().await.err();
    assert_eq!(
        err,
        Some(MattermostError::Unauthorized(
            "Invalid or expired session, please login again.".into()
        ))
    );
    assert_eq!(w.sim.rest_requests(), 1, "a 401 is not retried");
    Ok(())
}

#[tokio::test]
async fn posts_replies_and_props_round_trip() -> TestResult {
    let w = world().await?;
    let mm = client(&w.sim)?;
    let mut props = Map::new();
    props.insert("shipyard_key".into(), json!("release-42"));
    let root = mm
        .create_post(&NewPost {
            channel_id: w.channel.clone(),
            message: "Release 42 is rolling out".into(),
            root_id: None,
            props,
        })
        .await?;
    assert_eq!(root.channel_id, w.channel);
    assert_eq!(root.user_id, w.bot);
    assert_eq!(root.message, "Release 42 is rolling out");
    assert_eq!(root.root_id, "");
    assert_eq!(root.edit_at, 0);
    assert!(root.create_at > 0);
    assert_eq!(root.props.get("shipyard_key"), Some(&json!("release-42")));
    assert_eq!(root.props.get("from_bot"), Some(&json!("true")));

    let reply = mm
        .create_post(&NewPost {
            root_id: Some(root.id.clone()),
            ..NewPost::new(w.channel.clone(), "canary is healthy")
        })
        .await?;
    assert_eq!(reply.root_id, root.id);

    let stored = w.sim.post(&root.id).ok_or("root post not stored")?;
    assert_eq!(stored.props.get("shipyard_key"), Some(&json!("release-42")));
    assert_eq!(w.sim.posts().len(), 2);

    let read = mm.post(&root.id).await?.ok_or("root post not found")?;
    assert_eq!(read, root);
    Ok(())
}

#[tokio::test]
async fn patch_post_edits_the_message() -> TestResult {
    let w = world().await?;
    let mm = client(&w.sim)?;
    let post = mm
        .create_post(&NewPost::new(w.channel.clone(), "deploying…"))
        .await?;
    let edited = mm.patch_post(&post.id, "deployed").await?;
    assert_eq!(edited.id, post.id);
    assert_eq!(edited.message, "deployed");
    assert!(edited.edit_at > 0);
    assert!(edited.update_at > post.update_at);
    let stored = w.sim.post(&post.id).ok_or("post not stored")?;
    assert_eq!(stored.message, "deployed");
    Ok(())
}

#[tokio::test]
async fn an_unknown_post_is_none() -> TestResult {
    let w = world().await?;
    assert_eq!(client(&w.sim)?.post("nosuchpost").await?, None);
    Ok(())
}

#[tokio::test]
async fn posting_outside_the_bots_channels_is_forbidden() -> TestResult {
    let w = world().await?;
    let other = w.sim.add_channel("acme", "private-ish");
    let err = client(&w.sim)?
        .create_post(&NewPost::new(other, "hello?"))
        .await
        .err();
    assert_eq!(
        err,
        Some(MattermostError::Forbidden(
            "You do not have the appropriate permissions.".into()
        ))
    );
    assert!(w.sim.posts().is_empty());
    Ok(())
}

#[tokio::test]
async fn an_invalid_post_is_rejected() -> TestResult {
    let w = world().await?;
    let err = client(&w.sim)?
        .create_post(&NewPost::new(w.channel.clone(), "  "))
        .await
        .err();
    assert_eq!(
        err,
        Some(MattermostError::Rejected {
            status: 400,
            message: "Invalid Message.".into()
        })
    );
    Ok(())
}

#[tokio::test]
async fn server_errors_are_retried() -> TestResult {
    let w = world().await?;
    w.sim
        .push_rest_faults([RestFault::Status(500), RestFault::Status(503)]);
    let post = client(&w.sim)?
        .create_post(&NewPost::new(w.channel.clone(), "third time lucky"))
        .await?;
    assert_eq!(post.message, "third time lucky");
    assert_eq!(w.sim.rest_requests(), 3);
    assert_eq!(w.sim.posts().len(), 1);
    Ok(())
}

#[tokio::test]
async fn server_errors_beyond_the_retries_are_unavailable() -> TestResult {
    let w = world().await?;
    w.sim.push_rest_faults([RestFault::Status(502); 4]);
    let err = client(&w.sim)?.me().await.err();
    assert!(
        matches!(&err, Some(MattermostError::Unavailable(m)) if m.contains("502") && m.contains("Injected fault.")),
        "{err:?}"
    );
    assert_eq!(w.sim.rest_requests(), 4, "one attempt and three retries");
    Ok(())
}

#[tokio::test]
async fn a_short_rate_limit_is_waited_out() -> TestResult {
    let w = world().await?;
    w.sim.push_rest_faults([RestFault::TooManyRequests {
        retry_after_secs: 1,
    }]);
    let started = Instant::now();
    let me = client(&w.sim)?.me().await?;
    assert_eq!(me.id, w.bot);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(w.sim.rest_requests(), 2);
    Ok(())
}

#[tokio::test]
async fn a_long_rate_limit_fails_at_once() -> TestResult {
    let w = world().await?;
    w.sim.push_rest_faults([RestFault::TooManyRequests {
        retry_after_secs: 120,
    }]);
    let started = Instant::now();
    let err = client(&w.sim)?.me().await.err();
    assert_eq!(
        err,
        Some(MattermostError::RateLimited {
            retry_after_secs: 120
        })
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(w.sim.rest_requests(), 1);
    Ok(())
}

#[tokio::test]
async fn a_stopped_server_is_unavailable_after_retries() -> TestResult {
    let w = world().await?;
    let url = w.sim.url();
    w.sim.shutdown().await;
    let mm = Mattermost::new(options(&url, TOKEN))?;
    let started = Instant::now();
    let err = mm.me().await.err();
    assert!(
        matches!(&err, Some(MattermostError::Unavailable(_))),
        "{err:?}"
    );
    // Three backoffs of at most 50 ms each, plus refused connections.
    assert!(started.elapsed() < Duration::from_secs(3));
    Ok(())
}

#[tokio::test]
async fn websocket_url_matches_the_server() -> TestResult {
    let w = world().await?;
    assert_eq!(client(&w.sim)?.websocket_url(), w.sim.websocket_url());
    Ok(())
}

#[tokio::test]
async fn clones_share_one_client() -> TestResult {
    let w = world().await?;
    let mm = client(&w.sim)?;
    let other = mm.clone();
    let (a, b) = tokio::join!(other.me(), mm.me());
    assert_eq!(a?.id, b?.id);
    Ok(())
}

#[tokio::test]
async fn channel_posts_since_are_oldest_first() -> TestResult {
    let w = world().await?;
    let mm = client(&w.sim)?;
    // Posts in one millisecond are ordered by id; a pause between them keeps creation order.
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(3));
    let first = w.sim.post_as("alice", &w.channel, "first", None);
    pause().await;
    let second = mm
        .create_post(&NewPost {
            root_id: Some(first.id.clone()),
            ..NewPost::new(w.channel.clone(), "second")
        })
        .await?;
    pause().await;
    let third = w.sim.post_as("alice", &w.channel, "third @shipyard", None);
    let elsewhere = w.sim.add_channel("acme", "random");
    w.sim.add_member(&elsewhere, &w.bot);
    w.sim.add_member(&elsewhere, &w.sim.add_user("bob"));
    w.sim.post_as("bob", &elsewhere, "not here", None);

    let all = mm.channel_posts_since(&w.channel, 0).await?;
    let ids: Vec<&str> = all.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, [&first.id, &second.id, &third.id]);
    assert_eq!(all[1], second);
    assert_eq!(all[1].root_id, first.id);
    assert_eq!(all[2].message, "third @shipyard");
    assert!(
        all.windows(2)
            .all(|p| (p[0].create_at, &p[0].id) <= (p[1].create_at, &p[1].id))
    );

    let latest = all.iter().map(|p| p.update_at).max().unwrap_or_default();
    assert!(
        mm.channel_posts_since(&w.channel, latest + 1)
            .await?
            .is_empty()
    );

    // An edit brings an old post back, with its new message.
    let edited = mm.patch_post(&second.id, "second, edited").await?;
    let changed = mm.channel_posts_since(&w.channel, edited.update_at).await?;
    let again = changed
        .iter()
        .find(|p| p.id == second.id)
        .ok_or("the edited post is missing")?;
    assert_eq!(again.message, "second, edited");
    assert!(changed.iter().all(|p| p.update_at >= edited.update_at));
    Ok(())
}

#[tokio::test]
async fn channel_posts_since_map_errors_like_other_calls() -> TestResult {
    let w = world().await?;
    let mm = client(&w.sim)?;
    let closed = w.sim.add_channel("acme", "private-ish");
    assert_eq!(
        mm.channel_posts_since(&closed, 0).await.err(),
        Some(MattermostError::Forbidden(
            "You do not have the appropriate permissions.".into()
        ))
    );
    assert!(matches!(
        mm.channel_posts_since("nosuchchannel", 0).await,
        Err(MattermostError::NotFound(_))
    ));
    let stranger = Mattermost::new(options(&w.sim.url(), "wrong"))?;
    assert!(matches!(
        stranger.channel_posts_since(&w.channel, 0).await,
        Err(MattermostError::Unauthorized(_))
    ));
    assert_eq!(w.sim.rest_requests(), 3, "refusals are not retried");
    Ok(())
}

#[tokio::test]
async fn channel_posts_since_retries_server_errors() -> TestResult {
    let w = world().await?;
    let post = w.sim.post_as("alice", &w.channel, "hello", None);
    w.sim
        .push_rest_faults([RestFault::Status(500), RestFault::Status(502)]);
    let posts = client(&w.sim)?.channel_posts_since(&w.channel, 0).await?;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].id, post.id);
    assert_eq!(w.sim.rest_requests(), 3);
    Ok(())
}
