//! JSON pointers (RFC 6901): `/a/b~1c/0` is member `a`, then `b/c`, then item 0.

/// One segment as it appears in a pointer: `~` as `~0`, `/` as `~1`.
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// `path` with one more segment.
pub fn push(path: &str, segment: &str) -> String {
    format!("{path}/{}", escape(segment))
}

/// The segments of a pointer, unescaped; `None` if it is not a pointer (a
/// non-empty pointer starts with `/`; `~` must be followed by 0 or 1).
pub fn split(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    rest.split('/').map(unescape).collect()
}

fn unescape(segment: &str) -> Option<String> {
    let mut out = String::with_capacity(segment.len());
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip_through_escaping() {
        assert_eq!(escape("a/b~c"), "a~1b~0c");
        assert_eq!(push("/x", "a/b"), "/x/a~1b");
        assert_eq!(split("/x/a~1b~0c/0"), Some(vec!["x".into(), "a/b~c".into(), "0".into()]));
        assert_eq!(split(""), Some(vec![]));
        assert_eq!(split("/"), Some(vec!["".into()]));
        assert_eq!(split("x"), None);
        assert_eq!(split("/a~2"), None);
        // `~01` is `~1` unescaped, not `/`.
        assert_eq!(split("/~01"), Some(vec!["~1".into()]));
    }
}
