//! Text from a server, made fit for a table cell, a log line or a report: one line, no
//! control characters, an HTML error page reduced to its title, and a bounded length.

/// The most characters of server text kept in a message.
pub const MAX_SERVER_TEXT: usize = 200;

/// `text` (an error body, a per-lead message, a header) on one line: an HTML page becomes
/// its `<title>` (or its text without tags), control characters and runs of whitespace
/// become single spaces, and anything past `max` characters is cut and marked with `…`.
pub fn one_line(text: &str, max: usize) -> String {
    let text = text.trim();
    let text = if looks_like_html(text) {
        html_title(text).unwrap_or_else(|| strip_tags(text))
    } else {
        text.to_owned()
    };
    let mut out = String::with_capacity(text.len().min(max * 4 + 4));
    let mut chars = 0;
    let mut space = false;
    for c in text.chars() {
        // Whitespace, and control characters (an escape sequence for the terminal, a NUL).
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
            continue;
        }
        if chars == max {
            out.push('…');
            return out;
        }
        if space {
            if chars + 1 == max {
                out.push('…');
                return out;
            }
            out.push(' ');
            chars += 1;
            space = false;
        }
        out.push(c);
        chars += 1;
    }
    out
}

/// `one_line` with [`MAX_SERVER_TEXT`].
pub fn server_text(text: &str) -> String {
    one_line(text, MAX_SERVER_TEXT)
}

fn looks_like_html(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(256)
        .collect::<String>()
        .to_ascii_lowercase();
    head.starts_with("<!doctype html")
        || head.starts_with("<html")
        || head.starts_with("<?xml")
        || (head.starts_with('<') && (head.contains("<head") || head.contains("<body")))
}

/// The text of the first `<title>`, if it has any.
fn html_title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let title = decode_entities(html[start..end].trim());
    (!title.trim().is_empty()).then_some(title)
}

/// The page's text: tags removed (scripts and styles with their content).
fn strip_tags(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = String::new();
    let mut i = 0;
    while i < html.len() {
        let Some(lt) = html[i..].find('<') else {
            out.push_str(&html[i..]);
            break;
        };
        out.push_str(&html[i..i + lt]);
        let tag = i + lt;
        let skip_to = ["script", "style"].iter().find_map(|name| {
            lower[tag + 1..]
                .starts_with(name)
                .then(|| lower[tag..].find(&format!("</{name}")).map(|e| tag + e))
                .flatten()
        });
        let from = skip_to.unwrap_or(tag);
        match html[from..].find('>') {
            Some(gt) => {
                out.push(' ');
                i = from + gt + 1;
            }
            None => break,
        }
    }
    decode_entities(&out)
}

/// The few entities an error page uses.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_nginx_413_page_becomes_its_title() {
        let page = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n";
        assert_eq!(server_text(page), "413 Request Entity Too Large");
    }

    #[test]
    fn a_page_without_a_title_becomes_its_text() {
        let page = "<!DOCTYPE html><html><head><style>body { color: red }</style><script>var x = '<b>';</script></head>\n<body><h1>Bad&nbsp;Gateway</h1>\n<p>The upstream &amp; the proxy disagree.</p></body></html>";
        assert_eq!(
            server_text(page),
            "Bad Gateway The upstream & the proxy disagree."
        );
    }

    #[test]
    fn text_is_one_line_without_control_characters() {
        assert_eq!(
            server_text("  first line\r\n\tsecond\u{1b}[31m red\u{0}  "),
            "first line second [31m red"
        );
        assert_eq!(server_text("Invalid API key"), "Invalid API key");
        assert_eq!(server_text(" \n "), "");
        // Not HTML: kept as it is, angle brackets included.
        assert_eq!(server_text("a < b and c > d"), "a < b and c > d");
    }

    #[test]
    fn long_text_is_cut_with_a_mark_on_a_character_boundary() {
        let long = "é".repeat(500);
        let cut = server_text(&long);
        assert_eq!(cut.chars().count(), MAX_SERVER_TEXT + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(one_line("abc", 3), "abc");
        assert_eq!(one_line("ab cd", 3), "ab…");
        assert_eq!(one_line("ab  \n cd", 5), "ab cd");
    }

    #[test]
    fn unclosed_tags_and_odd_pages_do_not_panic() {
        for page in [
            "<html><head><title>",
            "<html><body><p",
            "<html><title></title><body>x</body>",
            "<html><script>never closed",
            "<?xml version=\"1.0\"?><error>é</error>",
        ] {
            let text = server_text(page);
            assert!(!text.contains('\n'), "{text}");
        }
        assert_eq!(server_text("<html><title></title><body>x</body>"), "x");
    }
}
