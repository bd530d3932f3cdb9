//! Canonical JSON: object keys sorted, no insignificant whitespace. Digests of config,
//! manifest and index depend on these bytes, so they must not depend on map iteration order
//! or on serde_json's `preserve_order` feature being enabled somewhere in the build.

use serde_json::Value;

/// Serialize `v` canonically.
pub fn canonical(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, v);
    out
}

/// Serialize any `Serialize` value canonically.
///
/// # Errors
/// If `v` cannot be represented as JSON.
pub fn to_canonical<T: serde::Serialize>(v: &T) -> serde_json::Result<Vec<u8>> {
    Ok(canonical(&serde_json::to_value(v)?))
}

fn write(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, &Value::String((*k).clone()));
                out.push(b':');
                write(out, &map[*k]);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_sorted_compact() {
        let v = json!({"b": 1, "a": {"d": [1, "x"], "c": null}, "é": "\n"});
        assert_eq!(
            String::from_utf8(canonical(&v)).unwrap(),
            r#"{"a":{"c":null,"d":[1,"x"]},"b":1,"é":"\n"}"#
        );
    }
}
