//! Reading and posting the HTML pages as a browser without JavaScript would: session cookie,
//! same-origin `Origin` header, the form's `csrf` field.

#![allow(dead_code)]

use crate::common::TestServer;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};

/// A client that shows redirects instead of following them.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in through the dev-mode page; returns the `Cookie` header value.
pub async fn sign_in(server: &TestServer, user: &str) -> String {
    let resp = no_redirects()
        .post(format!("{}/auth/dev-login", server.base))
        .header(ORIGIN, &server.base)
        .form(&[("user", user), ("next", "/releases")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let set = resp.headers()[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// GETs a page with the session cookie.
pub async fn page(server: &TestServer, cookie: &str, path: &str) -> reqwest::Response {
    no_redirects()
        .get(format!("{}{path}", server.base))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
}

/// The HTML of a page that must answer 200.
pub async fn page_text(server: &TestServer, cookie: &str, path: &str) -> String {
    let resp = page(server, cookie, path).await;
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.text().await.unwrap()
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf field")
        + 19;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// POSTs a form as the page would: same origin, session cookie, the given fields.
pub async fn post_form(
    server: &TestServer,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    no_redirects()
        .post(format!("{}{path}", server.base))
        .header(COOKIE, cookie)
        .header(ORIGIN, &server.base)
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// The part of `html` from the element with `id` to the end of `until` after it.
pub fn section<'a>(html: &'a str, id: &str, until: &str) -> &'a str {
    let from = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in:\n{html}"));
    let rest = &html[from..];
    let end = rest.find(until).map_or(rest.len(), |e| e + until.len());
    &rest[..end]
}

/// The page's only script is its own file: no inline script anywhere.
pub fn assert_only_own_script(html: &str) {
    let scripts: Vec<&str> = html
        .match_indices("<script")
        .map(|(i, _)| &html[i..])
        .collect();
    assert_eq!(scripts.len(), 1, "{html}");
    assert!(
        scripts[0].starts_with("<script src=\"/assets/shipyard.js?v=") && {
            let tag_end = scripts[0].find('>').unwrap();
            scripts[0][tag_end + 1..].starts_with("</script>")
        },
        "{html}"
    );
}
