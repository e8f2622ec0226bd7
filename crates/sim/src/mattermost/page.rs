//! Web pages for people: a list of the channels and, per channel, its posts as threads with a
//! form to post as one of its members. The page polls a fragment of itself so that answers
//! show up without reloading. No token is needed, and these requests are neither counted as
//! REST requests nor answered with injected faults.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as Extract};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};
use serde_json::Map;
use url::form_urlencoded;

use super::{Channel, Inner, Post, State};

type Shared = Arc<Inner>;

/// Mattermost's limit on a message's length, in characters.
pub(crate) const MAX_MESSAGE_CHARS: usize = 16383;

/// How often the page asks for new posts, in milliseconds.
const POLL_MS: u32 = 1000;

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/", get(index))
        .route("/favicon.ico", get(no_icon))
        .route(
            "/{team}/channels/{name}",
            get(channel_page).post(post_message),
        )
        .route("/{team}/channels/{name}/fragment", get(fragment))
}

/// The path of a channel's page, `/{team}/channels/{name}` with both names percent-encoded.
pub(crate) fn channel_path(team: &str, name: &str) -> String {
    format!("/{}/channels/{}", path_segment(team), path_segment(name))
}

fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Text made safe for HTML content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `HH:MM:SS UTC` of a Unix time in milliseconds.
fn clock(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A query string's `as` and `reply_to`.
#[derive(Debug, Default)]
struct PageQuery {
    post_as: Option<String>,
    reply_to: Option<String>,
}

impl PageQuery {
    fn parse(query: Option<&str>) -> PageQuery {
        let mut q = PageQuery::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let slot = match key.as_ref() {
                "as" => &mut q.post_as,
                "reply_to" => &mut q.reply_to,
                _ => continue,
            };
            if slot.is_none() && !value.is_empty() {
                *slot = Some(value.into_owned());
            }
        }
        q
    }
}

/// `path?as=…&reply_to=…`, leaving out what is absent.
fn page_link(path: &str, post_as: Option<&str>, reply_to: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(name) = post_as {
        query.append_pair("as", name);
    }
    if let Some(id) = reply_to {
        query.append_pair("reply_to", id);
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// What a channel's page shows, copied out of the state.
struct View {
    team: String,
    channel: Channel,
    posts: Vec<Post>,
    /// User id to `(username, is_bot)`.
    users: HashMap<String, (String, bool)>,
    /// Usernames of the members who are not bots, in the order they were added as users.
    people: Vec<String>,
    /// The first bot member's username.
    bot: Option<String>,
}

impl View {
    fn path(&self) -> String {
        channel_path(&self.team, &self.channel.name)
    }

    /// The post `id` when it starts a thread of this channel.
    fn root(&self, id: &str) -> Option<&Post> {
        self.posts
            .iter()
            .find(|p| p.id == id && p.root_id.is_empty())
    }
}

fn find_channel<'a>(state: &'a State, team: &str, name: &str) -> Option<&'a Channel> {
    let team = state.teams.iter().find(|t| t.name == team)?;
    state
        .channels
        .iter()
        .find(|c| c.team_id == team.id && c.name == name)
}

fn view(inner: &Inner, team: &str, name: &str) -> Option<View> {
    let state = inner.state();
    let channel = find_channel(&state, team, name)?.clone();
    let members = state
        .users
        .iter()
        .filter(|u| state.is_member(&channel.id, &u.id));
    let people = members
        .clone()
        .filter(|u| !u.is_bot)
        .map(|u| u.username.clone())
        .collect();
    let bot = members
        .clone()
        .find(|u| u.is_bot)
        .map(|u| u.username.clone());
    Some(View {
        team: team.to_owned(),
        posts: state
            .posts
            .iter()
            .filter(|p| p.channel_id == channel.id)
            .cloned()
            .collect(),
        users: state
            .users
            .iter()
            .map(|u| (u.id.clone(), (u.username.clone(), u.is_bot)))
            .collect(),
        channel,
        people,
        bot,
    })
}

fn html_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, Html(body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <link rel=\"icon\" href=\"data:,\">\n<title>{}</title>\n<style>{STYLE}</style>\n\
         </head>\n<body>\n{body}\n</body>\n</html>\n",
        esc(title)
    )
}

/// A short page saying what went wrong, with a link onwards.
fn notice(status: StatusCode, text: &str, back: &str, back_label: &str) -> Response {
    let body = format!(
        "<header><a href=\"/\">Channels</a></header>\n<div class=\"notice\">\
         <h1>{}</h1>\n<p>{}</p>\n<p><a href=\"{}\">{}</a></p></div>",
        status.as_u16(),
        esc(text),
        esc(back),
        esc(back_label)
    );
    html_response(status, document(text, &body))
}

fn no_channel(team: &str, name: &str) -> Response {
    notice(
        StatusCode::NOT_FOUND,
        &format!("There is no channel ~{name} in the team {team}."),
        "/",
        "All channels",
    )
}

async fn no_icon() -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn index(Extract(inner): Extract<Shared>) -> Response {
    let channels: Vec<(String, String, usize)> = {
        let state = inner.state();
        state
            .channels
            .iter()
            .map(|c| {
                let team = state
                    .teams
                    .iter()
                    .find(|t| t.id == c.team_id)
                    .map(|t| t.name.clone())
                    .unwrap_or_default();
                let posts = state.posts.iter().filter(|p| p.channel_id == c.id).count();
                (team, c.name.clone(), posts)
            })
            .collect()
    };
    if let [(team, name, _)] = channels.as_slice() {
        return Redirect::to(&channel_path(team, name)).into_response();
    }
    let mut body =
        String::from("<header><strong>Channels</strong></header>\n<main class=\"index\">\n");
    if channels.is_empty() {
        body.push_str("<p class=\"empty\">No channels yet.</p>\n");
    } else {
        body.push_str("<ul>\n");
        for (team, name, posts) in &channels {
            let _ = writeln!(
                body,
                "<li><a href=\"{}\">{} / ~{}</a> <span class=\"meta\">{posts} post{}</span></li>",
                esc(&channel_path(team, name)),
                esc(team),
                esc(name),
                if *posts == 1 { "" } else { "s" },
            );
        }
        body.push_str("</ul>\n");
    }
    body.push_str("</main>");
    html_response(StatusCode::OK, document("Channels", &body))
}

async fn fragment(
    Extract(inner): Extract<Shared>,
    Path((team, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(view) = view(&inner, &team, &name) else {
        return no_channel(&team, &name);
    };
    let query = PageQuery::parse(query.as_deref());
    html_response(StatusCode::OK, posts_html(&view, query.reply_to.as_deref()))
}

async fn channel_page(
    Extract(inner): Extract<Shared>,
    Path((team, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(view) = view(&inner, &team, &name) else {
        return no_channel(&team, &name);
    };
    let query = PageQuery::parse(query.as_deref());
    let root = query.reply_to.as_deref().and_then(|id| view.root(id));
    let path = view.path();
    let posts = posts_html(&view, root.map(|p| p.id.as_str()));
    let form = form_html(&view, query.post_as.as_deref(), root);
    let body = format!(
        "<header><a href=\"/\">Channels</a> / {} / <strong>~{}</strong></header>\n\
         <main id=\"posts\" data-fragment=\"{}\">{posts}</main>\n{form}\n\
         <script>{}</script>",
        esc(&view.team),
        esc(&view.channel.name),
        esc(&format!("{path}/fragment")),
        SCRIPT.replace("POLL_MS", &POLL_MS.to_string()),
    );
    let title = format!("~{} · {}", view.channel.name, view.team);
    html_response(StatusCode::OK, document(&title, &body))
}

/// The posts as threads: each thread's first post, oldest first, with its replies in order
/// below it. A reply whose first post is not in the channel stands alone.
fn posts_html(view: &View, selected: Option<&str>) -> String {
    if view.posts.is_empty() {
        return "<p class=\"empty\">No posts yet.</p>".to_owned();
    }
    let starts_thread = |p: &Post| p.root_id.is_empty() || view.root(&p.root_id).is_none();
    let mut out = String::new();
    for root in view.posts.iter().filter(|p| starts_thread(p)) {
        let is_root = root.root_id.is_empty();
        let class = if is_root && selected == Some(root.id.as_str()) {
            "thread selected"
        } else {
            "thread"
        };
        let _ = write!(out, "<article class=\"{class}\">");
        out.push_str(&post_html(view, root, is_root));
        let replies: Vec<&Post> = if is_root {
            view.posts.iter().filter(|p| p.root_id == root.id).collect()
        } else {
            Vec::new()
        };
        if !replies.is_empty() {
            out.push_str("<div class=\"replies\">");
            for reply in replies {
                out.push_str(&post_html(view, reply, false));
            }
            out.push_str("</div>");
        }
        out.push_str("</article>\n");
    }
    out
}

fn post_html(view: &View, post: &Post, reply_link: bool) -> String {
    let (username, is_bot) = view
        .users
        .get(&post.user_id)
        .map_or(("unknown", false), |(name, bot)| (name.as_str(), *bot));
    let mut out = format!(
        "<div class=\"post\" id=\"p-{}\"><div class=\"meta\"><span class=\"author\">@{}</span>",
        esc(&post.id),
        esc(username)
    );
    if is_bot {
        out.push_str("<span class=\"bot\">BOT</span>");
    }
    let _ = write!(out, " <time>{}</time>", clock(post.create_at));
    if post.edit_at != 0 {
        out.push_str(" <span class=\"edited\">(edited)</span>");
    }
    if reply_link {
        let _ = write!(
            out,
            " <a class=\"reply keep-as\" href=\"{}\">reply</a>",
            esc(&page_link(&view.path(), None, Some(&post.id)))
        );
    }
    let _ = write!(
        out,
        "</div><div class=\"message\">{}</div></div>",
        render_markdown(&post.message)
    );
    out
}

fn form_html(view: &View, post_as: Option<&str>, root: Option<&Post>) -> String {
    let path = view.path();
    if view.people.is_empty() {
        return "<div class=\"compose\"><p class=\"hint\">Nobody can post here from this page: \
                the channel has no members other than bots.</p></div>"
            .to_owned();
    }
    let mut out = format!(
        "<form class=\"compose\" method=\"post\" action=\"{}\">\n",
        esc(&path)
    );
    if let Some(root) = root {
        let author = view
            .users
            .get(&root.user_id)
            .map_or("unknown", |(name, _)| name.as_str());
        let first_line = root.message.lines().next().unwrap_or_default();
        let mut excerpt: String = first_line.chars().take(80).collect();
        if excerpt.len() < root.message.trim_end().len() {
            excerpt.push('…');
        }
        let _ = write!(
            out,
            "<div class=\"replying\">Replying to @{}: “{}” · <a class=\"keep-as\" href=\"{}\">cancel</a></div>\n\
             <input type=\"hidden\" name=\"root_id\" value=\"{}\">\n",
            esc(author),
            esc(&excerpt),
            esc(&path),
            esc(&root.id),
        );
    }
    out.push_str("<div class=\"row\"><label>Post as <select name=\"username\" id=\"who\">");
    for name in &view.people {
        let selected = if post_as == Some(name.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<option value=\"{0}\"{selected}>@{0}</option>",
            esc(name)
        );
    }
    let placeholder = view.bot.as_ref().map_or_else(
        || "Write a message".to_owned(),
        |bot| format!("@{bot} help"),
    );
    let _ = write!(
        out,
        "</select></label>\n<textarea name=\"message\" id=\"message\" rows=\"2\" \
         maxlength=\"{MAX_MESSAGE_CHARS}\" placeholder=\"{}\" required autofocus></textarea>\n\
         <button type=\"submit\">{}</button></div>\n\
         <p class=\"hint\">Enter sends, Shift+Enter starts a new line.</p>\n</form>",
        esc(&placeholder),
        if root.is_some() { "Reply" } else { "Send" },
    );
    out
}

/// The form's fields; the first of each name counts.
#[derive(Debug, Default)]
struct PostForm {
    username: String,
    message: String,
    root_id: String,
}

impl PostForm {
    fn parse(body: &[u8]) -> PostForm {
        let mut fields: [Option<String>; 3] = Default::default();
        for (key, value) in form_urlencoded::parse(body) {
            let i = match key.as_ref() {
                "username" => 0,
                "message" => 1,
                "root_id" => 2,
                _ => continue,
            };
            if fields[i].is_none() {
                fields[i] = Some(value.into_owned());
            }
        }
        let [username, message, root_id] = fields.map(Option::unwrap_or_default);
        PostForm {
            username: username.trim().to_owned(),
            message: message.replace("\r\n", "\n").trim_end().to_owned(),
            root_id: root_id.trim().to_owned(),
        }
    }
}

async fn post_message(
    Extract(inner): Extract<Shared>,
    Path((team, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let form = PostForm::parse(&body);
    let path = channel_path(&team, &name);
    let refuse =
        |text: String| notice(StatusCode::BAD_REQUEST, &text, &path, "Back to the channel");
    let mut state = inner.state();
    let Some(channel_id) = find_channel(&state, &team, &name).map(|c| c.id.clone()) else {
        return no_channel(&team, &name);
    };
    let Some(user) = state
        .users
        .iter()
        .find(|u| u.username == form.username)
        .cloned()
    else {
        return refuse(if form.username.is_empty() {
            "Choose who to post as.".to_owned()
        } else {
            format!("There is no user named @{}.", form.username)
        });
    };
    if user.is_bot {
        return refuse(format!(
            "@{} is a bot; bots post through the API, not from this page.",
            user.username
        ));
    }
    if !state.is_member(&channel_id, &user.id) {
        return refuse(format!("@{} is not a member of ~{name}.", user.username));
    }
    if form.message.trim().is_empty() {
        return refuse("The message is empty.".to_owned());
    }
    let chars = form.message.chars().count();
    if chars > MAX_MESSAGE_CHARS {
        return refuse(format!(
            "The message has {chars} characters; at most {MAX_MESSAGE_CHARS} are allowed."
        ));
    }
    if !form.root_id.is_empty()
        && !state
            .post(&form.root_id)
            .is_some_and(|p| p.channel_id == channel_id && p.root_id.is_empty())
    {
        return refuse("The post to reply to does not start a thread in this channel.".to_owned());
    }
    state.create_post(
        &user.id,
        &channel_id,
        &form.message,
        &form.root_id,
        Map::new(),
        "",
    );
    drop(state);
    let root = (!form.root_id.is_empty()).then_some(form.root_id.as_str());
    Redirect::to(&page_link(&path, Some(&user.username), root)).into_response()
}

/// An absolute http(s) URL, normalised; anything else is refused.
fn web_url(dest: &str) -> Option<String> {
    let url = url::Url::parse(dest).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.into())
}

fn anchor(url: &str, title: &str) -> String {
    let title = if title.is_empty() {
        String::new()
    } else {
        format!(" title=\"{}\"", esc(title))
    };
    format!(
        "<a href=\"{}\"{title} rel=\"noopener noreferrer nofollow\" target=\"_blank\">",
        esc(url)
    )
}

/// Pushes text, turning bare http(s) URLs in it into links.
fn push_linked_text(text: &str, events: &mut Vec<Event<'static>>) {
    let mut rest = text;
    while let Some(start) = find_bare_url(rest) {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`'))
            .unwrap_or(tail.len());
        let candidate = tail[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'']);
        let Some(url) = web_url(candidate) else {
            events.push(Event::Text(CowStr::from(rest[..start + end].to_owned())));
            rest = &rest[start + end..];
            continue;
        };
        if start > 0 {
            events.push(Event::Text(CowStr::from(rest[..start].to_owned())));
        }
        events.push(Event::InlineHtml(CowStr::from(anchor(&url, ""))));
        events.push(Event::Text(CowStr::from(candidate.to_owned())));
        events.push(Event::InlineHtml(CowStr::from("</a>")));
        rest = &tail[candidate.len()..];
    }
    if !rest.is_empty() {
        events.push(Event::Text(CowStr::from(rest.to_owned())));
    }
}

/// Where the first `http://` or `https://` that starts a word begins.
fn find_bare_url(text: &str) -> Option<usize> {
    text.match_indices("http").map(|(i, _)| i).find(|&i| {
        let after = &text[i..];
        let starts_word = text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        starts_word && (after.starts_with("http://") || after.starts_with("https://"))
    })
}

/// A message's Markdown as HTML that cannot run anything: raw HTML is shown as text, links and
/// images become links only to http(s) URLs (images are not loaded), bare http(s) URLs become
/// links and line breaks are kept, as Mattermost shows them.
pub(crate) fn render_markdown(text: &str) -> String {
    let options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES;
    let mut events: Vec<Event<'static>> = Vec::new();
    // Per open link or image: whether an anchor was written for it.
    let mut anchors: Vec<bool> = Vec::new();
    let mut in_code_block = false;
    // Adjacent text, joined so that URLs split across text events are found whole.
    let mut pending = String::new();
    for event in Parser::new_ext(text, options) {
        if let Event::Text(t) = &event
            && !in_code_block
            && anchors.is_empty()
        {
            pending.push_str(t);
            continue;
        }
        if !pending.is_empty() {
            push_linked_text(&pending, &mut events);
            pending.clear();
        }
        match event {
            Event::Html(raw) | Event::InlineHtml(raw) => {
                let line = raw.strip_suffix('\n');
                events.push(Event::Text(CowStr::from(line.unwrap_or(&raw).to_owned())));
                if line.is_some() {
                    events.push(Event::HardBreak);
                }
            }
            Event::Start(Tag::HtmlBlock) => events.push(Event::Start(Tag::Paragraph)),
            Event::End(TagEnd::HtmlBlock) => events.push(Event::End(TagEnd::Paragraph)),
            Event::SoftBreak => events.push(Event::HardBreak),
            Event::Start(
                Tag::Link {
                    dest_url, title, ..
                }
                | Tag::Image {
                    dest_url, title, ..
                },
            ) => {
                let url = web_url(&dest_url).filter(|_| !anchors.contains(&true));
                if let Some(url) = &url {
                    events.push(Event::InlineHtml(CowStr::from(anchor(url, &title))));
                }
                anchors.push(url.is_some());
            }
            Event::End(TagEnd::Link | TagEnd::Image) => {
                if anchors.pop() == Some(true) {
                    events.push(Event::InlineHtml(CowStr::from("</a>")));
                }
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                in_code_block = true;
                events.push(Event::Start(Tag::CodeBlock(kind)).into_static());
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code_block = false;
                events.push(Event::End(TagEnd::CodeBlock));
            }
            other => events.push(other.into_static()),
        }
    }
    if !pending.is_empty() {
        push_linked_text(&pending, &mut events);
    }
    let mut out = String::with_capacity(text.len() * 2);
    html::push_html(&mut out, events.into_iter());
    out
}

const STYLE: &str = "
:root{color-scheme:light dark;--bg:#f4f5f7;--fg:#1f2329;--muted:#6b7280;--card:#fff;
--line:#dde1e6;--accent:#1c58d9}
@media (prefers-color-scheme:dark){:root{--bg:#15171a;--fg:#e4e6e9;--muted:#9aa3ad;
--card:#1e2126;--line:#30353c;--accent:#6d9eff}}
*{box-sizing:border-box}
html,body{height:100%;margin:0}
body{display:flex;flex-direction:column;font:15px/1.45 system-ui,sans-serif;
background:var(--bg);color:var(--fg)}
a{color:var(--accent)}
header{padding:.6rem 1rem;border-bottom:1px solid var(--line);background:var(--card)}
header a{text-decoration:none}
#posts,.index,.notice{flex:1;overflow-y:auto;padding:1rem}
.index ul{max-width:40rem;margin:0 auto;padding-left:1.2rem}
.index li{margin:.3rem 0}
.notice{max-width:40rem;margin:0 auto}
.thread{max-width:60rem;margin:0 auto .6rem;background:var(--card);border:1px solid var(--line);
border-radius:8px;padding:.5rem .8rem}
.thread.selected{border-color:var(--accent);box-shadow:0 0 0 1px var(--accent)}
.replies{margin:.3rem 0 0 1.2rem;padding-left:.8rem;border-left:3px solid var(--line)}
.post{padding:.2rem 0}
.meta,.hint{font-size:.82rem;color:var(--muted)}
.author{font-weight:600;color:var(--fg)}
.bot{font-size:.65rem;border:1px solid var(--muted);border-radius:3px;padding:0 .25rem;
margin-left:.3rem;vertical-align:1px}
.reply{margin-left:.4rem}
.message{overflow-wrap:anywhere}
.message p{margin:.15rem 0}
.message h1,.message h2,.message h3,.message h4,.message h5,.message h6{font-size:1.05rem;
margin:.3rem 0}
.message pre{background:var(--bg);padding:.5rem;border-radius:4px;overflow-x:auto}
.message code{font:.9em ui-monospace,SFMono-Regular,Menlo,monospace}
.message table{border-collapse:collapse}
.message th,.message td{border:1px solid var(--line);padding:.15rem .45rem}
.message blockquote{margin:.2rem 0;padding-left:.7rem;border-left:3px solid var(--line);
color:var(--muted)}
.empty{color:var(--muted);text-align:center}
.compose{border-top:1px solid var(--line);background:var(--card);padding:.6rem 1rem}
.compose>*{max-width:60rem;margin-left:auto;margin-right:auto}
.replying{font-size:.85rem;margin-bottom:.4rem}
.row{display:flex;gap:.5rem;align-items:flex-end;flex-wrap:wrap}
.row label{font-size:.85rem;color:var(--muted)}
textarea{flex:1;min-width:12rem;resize:vertical;font:inherit;padding:.45rem .55rem;
border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg)}
select,button{font:inherit;padding:.4rem .6rem;border-radius:6px;border:1px solid var(--line);
background:var(--bg);color:var(--fg)}
button{background:var(--accent);border-color:var(--accent);color:#fff;cursor:pointer}
.hint{margin:.3rem auto 0}
";

const SCRIPT: &str = "
(function () {
  var posts = document.getElementById('posts');
  var who = document.getElementById('who');
  var box = document.getElementById('message');
  var source = posts.getAttribute('data-fragment') + location.search;
  var last = null;
  function nearBottom() {
    return posts.scrollHeight - posts.scrollTop - posts.clientHeight < 60;
  }
  function poll() {
    fetch(source, { cache: 'no-store' })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null && html !== last) {
          var stick = last === null || nearBottom();
          last = html;
          posts.innerHTML = html;
          if (stick) { posts.scrollTop = posts.scrollHeight; }
        }
      })
      .catch(function () {})
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  document.addEventListener('click', function (e) {
    var a = e.target.closest && e.target.closest('a.keep-as');
    if (a && who) {
      var url = new URL(a.href);
      url.searchParams.set('as', who.value);
      a.href = url.href;
    }
  });
  if (box) {
    box.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        if (box.value.trim() !== '') { box.form.requestSubmit(); }
      }
    });
  }
  posts.scrollTop = posts.scrollHeight;
  setTimeout(poll, POLL_MS);
})();
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_keeps_formatting() {
        let html = render_markdown("**bold** and _it_ and `code` and ~~gone~~");
        assert!(html.contains("<strong>bold</strong>"), "{html}");
        assert!(html.contains("<em>it</em>"), "{html}");
        assert!(html.contains("<code>code</code>"), "{html}");
        assert!(html.contains("<del>gone</del>"), "{html}");
    }

    #[test]
    fn markdown_shows_raw_html_as_text() {
        let html = render_markdown("hi <script>alert(1)</script> <b onclick=x>b</b>");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b "), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        let block = render_markdown("<div>\n<img src=x onerror=alert(1)>\n</div>\n");
        assert!(!block.contains("<div"), "{block}");
        assert!(!block.contains("<img"), "{block}");
        assert!(block.contains("&lt;img"), "{block}");
    }

    #[test]
    fn markdown_links_keep_only_web_urls() {
        let html =
            render_markdown("[ok](https://example.com/a?b=1&c=2) [bad](javascript:alert(1))");
        assert!(
            html.contains("<a href=\"https://example.com/a?b=1&amp;c=2\""),
            "{html}"
        );
        assert!(
            html.contains("rel=\"noopener noreferrer nofollow\""),
            "{html}"
        );
        assert!(!html.contains("javascript"), "{html}");
        assert!(html.contains("bad"), "{html}");
        let relative =
            render_markdown("[rel](/admin) <mailto:a@example.com> [d](data:text/html,x)");
        assert!(!relative.contains("<a "), "{relative}");
    }

    #[test]
    fn markdown_images_become_links() {
        let html = render_markdown("![chart](https://example.com/c.png) ![x](file:///etc/passwd)");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("<a href=\"https://example.com/c.png\""),
            "{html}"
        );
        assert!(!html.contains("file:"), "{html}");
    }

    #[test]
    fn bare_urls_become_links() {
        let html = render_markdown("see https://example.com/r/1_2, or http://x.test.");
        assert!(
            html.contains("<a href=\"https://example.com/r/1_2\""),
            "{html}"
        );
        assert!(html.contains(">https://example.com/r/1_2</a>,"), "{html}");
        assert!(html.contains("<a href=\"http://x.test/\""), "{html}");
        let code = render_markdown("`https://example.com` and\n\n    https://example.com\n");
        assert!(!code.contains("<a "), "{code}");
    }

    #[test]
    fn newlines_are_line_breaks() {
        let html = render_markdown("one\ntwo");
        assert!(html.contains("one<br />"), "{html}");
    }

    #[test]
    fn clock_is_utc() {
        assert_eq!(clock(0), "00:00:00 UTC");
        assert_eq!(clock(1_700_000_000_123), "22:13:20 UTC");
    }

    #[test]
    fn paths_are_encoded() {
        assert_eq!(channel_path("acme", "releases"), "/acme/channels/releases");
        assert_eq!(channel_path("a b", "x/y"), "/a%20b/channels/x%2Fy");
        assert_eq!(
            page_link("/t/channels/c", Some("al ice"), Some("id1")),
            "/t/channels/c?as=al+ice&reply_to=id1"
        );
    }

    #[test]
    fn form_fields_are_read() {
        let form = PostForm::parse(b"username=alice&message=%40bot+hi%0D%0Athere%0D%0A&root_id=");
        assert_eq!(form.username, "alice");
        assert_eq!(form.message, "@bot hi\nthere");
        assert_eq!(form.root_id, "");
    }
}
