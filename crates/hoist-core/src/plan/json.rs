//! Walking a resource spec (JSON) with the JSON pointer of each value.

use serde_json::Value;

/// Calls `f(pointer, value)` for `v` and, where `f` returns true, for everything inside it,
/// depth first, objects' keys in their order.
pub(super) fn walk(v: &Value, f: &mut impl FnMut(&str, &Value) -> bool) {
    walk_at(v, &mut String::new(), f);
}

fn walk_at(v: &Value, ptr: &mut String, f: &mut impl FnMut(&str, &Value) -> bool) {
    if !f(ptr, v) {
        return;
    }
    let mut step = |ptr: &mut String, seg: &str, x: &Value| {
        let len = ptr.len();
        ptr.push('/');
        ptr.push_str(&seg.replace('~', "~0").replace('/', "~1"));
        walk_at(x, ptr, f);
        ptr.truncate(len);
    };
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                step(ptr, k, x);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                step(ptr, &i.to_string(), x);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn pointers_are_escaped_and_walks_can_stop_descending() {
        let v = json!({"a/b": {"c~": [1, {"stop": {"x": 2}}]}});
        let mut seen = Vec::new();
        super::walk(&v, &mut |p, x| {
            seen.push(p.to_string());
            x.get("x").is_none()
        });
        assert_eq!(
            seen,
            [
                "",
                "/a~1b",
                "/a~1b/c~0",
                "/a~1b/c~0/0",
                "/a~1b/c~0/1",
                "/a~1b/c~0/1/stop"
            ]
        );
    }
}
