//! Request and answer bodies of the REST calls. Answers ignore fields Shipyard does not read,
//! and tolerate absent or `null` fields by taking their defaults.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A post to create.
///
/// A create is retried when Mattermost fails or the connection breaks, so if an answer is lost
/// after Mattermost stored the post, the post can appear twice. Put a key of your own in
/// [`props`](NewPost::props) (e.g. `{"shipyard_key": "…"}`) to recognise your posts when
/// reading the channel back or when they arrive over the WebSocket.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NewPost {
    /// The channel to post in; the bot must be a member.
    pub channel_id: String,
    /// The text (Markdown).
    pub message: String,
    /// The thread's root post, to reply in a thread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_id: Option<String>,
    /// Extra properties stored with the post.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub props: Map<String, Value>,
}

impl NewPost {
    /// A top-level post without props.
    pub fn new(channel_id: impl Into<String>, message: impl Into<String>) -> Self {
        NewPost {
            channel_id: channel_id.into(),
            message: message.into(),
            root_id: None,
            props: Map::new(),
        }
    }
}

/// A Mattermost account (the bot itself, for [`Mattermost::me`](crate::Mattermost::me)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// 26-character id.
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    /// Login name, without `@`.
    #[serde(default, deserialize_with = "nullable")]
    pub username: String,
    /// Whether the account is a bot; absent for people.
    #[serde(default, deserialize_with = "nullable")]
    pub is_bot: bool,
}

/// A post as Mattermost reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Post {
    /// 26-character id.
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    /// The channel.
    #[serde(default, deserialize_with = "nullable")]
    pub channel_id: String,
    /// The author.
    #[serde(default, deserialize_with = "nullable")]
    pub user_id: String,
    /// The thread's root post; empty for a top-level post.
    #[serde(default, deserialize_with = "nullable")]
    pub root_id: String,
    /// The text.
    #[serde(default, deserialize_with = "nullable")]
    pub message: String,
    /// Unix milliseconds.
    #[serde(default, deserialize_with = "nullable")]
    pub create_at: i64,
    /// Unix milliseconds of the last change of any kind.
    #[serde(default, deserialize_with = "nullable")]
    pub update_at: i64,
    /// Unix milliseconds of the last edit of the message; 0 when never edited.
    #[serde(default, deserialize_with = "nullable")]
    pub edit_at: i64,
    /// Properties stored with the post (Mattermost adds `from_bot` to bots' posts).
    #[serde(default, deserialize_with = "nullable")]
    pub props: Map<String, Value>,
}

/// A list of posts as Mattermost answers it (a `PostList`); posts stay raw so each can be
/// checked before it is read.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct PostList {
    /// Post ids, newest first.
    #[serde(default, deserialize_with = "nullable")]
    pub order: Vec<String>,
    /// Posts by id.
    #[serde(default, deserialize_with = "nullable")]
    pub posts: Map<String, Value>,
}

/// Reads `null` as the type's default.
fn nullable<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_reads_nulls_and_ignores_unknown_fields() -> Result<(), serde_json::Error> {
        let post: Post = serde_json::from_str(
            r#"{"id":"p1","channel_id":"c1","user_id":"u1","root_id":null,"message":"hi",
                "create_at":5,"update_at":6,"edit_at":0,"props":null,"type":"","hashtags":""}"#,
        )?;
        assert_eq!(post.id, "p1");
        assert_eq!(post.root_id, "");
        assert!(post.props.is_empty());
        assert_eq!(post.update_at, 6);
        Ok(())
    }

    #[test]
    fn user_is_bot_defaults_to_false() -> Result<(), serde_json::Error> {
        let user: User = serde_json::from_str(r#"{"id":"u1","username":"alice","roles":"x"}"#)?;
        assert!(!user.is_bot);
        Ok(())
    }

    #[test]
    fn new_post_leaves_out_empty_parts() -> Result<(), serde_json::Error> {
        let body = serde_json::to_value(NewPost::new("c1", "hi"))?;
        assert_eq!(
            body,
            serde_json::json!({"channel_id": "c1", "message": "hi"})
        );
        Ok(())
    }
}
