//! Release notes are Markdown, typed by people: rendered with pulldown-cmark, then cleaned by
//! ammonia so that only harmless HTML reaches the page.
//!
//! Raw HTML in the text is shown as text, not interpreted; links keep only http(s) and mailto
//! targets and get `rel="noopener noreferrer nofollow"`; images are dropped (the page policy
//! would block outside images anyway).

use pulldown_cmark::{Event, Options, Parser, html};
use std::collections::HashSet;
use std::sync::OnceLock;

fn cleaner() -> &'static ammonia::Builder<'static> {
    static CLEANER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    CLEANER.get_or_init(|| {
        let tags: HashSet<&str> = [
            "a",
            "p",
            "br",
            "hr",
            "em",
            "strong",
            "del",
            "code",
            "pre",
            "blockquote",
            "ul",
            "ol",
            "li",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
            "input",
        ]
        .into_iter()
        .collect();
        let mut b = ammonia::Builder::default();
        b.tags(tags)
            .url_schemes(["http", "https", "mailto"].into_iter().collect())
            .link_rel(Some("noopener noreferrer nofollow"))
            .add_tag_attributes("ol", ["start"])
            .add_tag_attributes("input", ["type", "checked", "disabled"])
            .add_tag_attributes("th", ["align"])
            .add_tag_attributes("td", ["align"]);
        b
    })
}

/// Markdown as safe HTML.
pub fn render(text: &str) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_GFM;
    // Raw HTML becomes text: what someone typed is what everyone reads.
    let events = Parser::new_ext(text, options).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        other => other,
    });
    let mut unsafe_html = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut unsafe_html, events);
    cleaner().clean(&unsafe_html).to_string()
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn markdown_is_rendered() {
        let out = render("# Title\n\n- **bold** and `code`\n- [docs](https://example.com/a)\n");
        assert!(out.contains("<h1>Title</h1>"), "{out}");
        assert!(out.contains("<strong>bold</strong>"), "{out}");
        assert!(out.contains("<code>code</code>"), "{out}");
        assert!(
            out.contains(
                r#"<a href="https://example.com/a" rel="noopener noreferrer nofollow">docs</a>"#
            ),
            "{out}"
        );
    }

    #[test]
    fn html_in_the_text_is_shown_as_text() {
        for evil in [
            "<script>alert(1)</script>",
            "hello <img src=x onerror=alert(1)>",
            "<div onclick=\"x()\">a</div>",
            "<iframe src=\"https://evil.example\"></iframe>",
        ] {
            let out = render(evil);
            assert!(!out.contains("<script"), "{out}");
            assert!(!out.contains("<img"), "{out}");
            assert!(!out.contains("<iframe"), "{out}");
            assert!(!out.contains("<div"), "{out}");
            assert!(out.contains("&lt;"), "shown as text: {out}");
        }
        assert!(
            render("<script>alert(1)</script>").contains("&lt;script&gt;alert(1)&lt;/script&gt;")
        );
    }

    #[test]
    fn dangerous_links_and_images_are_dropped() {
        let out = render("[x](javascript:alert(1)) [y](data:text/html,hi) ![i](https://e.x/i.png)");
        assert!(!out.contains("javascript:"), "{out}");
        assert!(!out.contains("data:"), "{out}");
        assert!(!out.contains("<img"), "{out}");
        assert!(out.contains('x') && out.contains('y'), "{out}");
    }

    #[test]
    fn tables_and_task_lists_survive() {
        let out = render("| a | b |\n|---|--:|\n| 1 | 2 |\n\n- [x] done\n- [ ] todo\n");
        assert!(out.contains("<table>"), "{out}");
        assert!(out.contains(r#"type="checkbox""#), "{out}");
    }
}
