//! Reading state JSON of any schema version this crate knows, migrating it to the current one.
//!
//! The JSON form is what [`FileStore`](crate::FileStore) keeps and what `hoist state export`
//! prints. Each step `v(n) -> v(n+1)` is a function on the JSON value, so a state written by
//! any older hoist is read by this one; a newer one is refused with
//! [`StateError::TooNew`].

use serde_json::{Value, json};

use crate::{SCHEMA_VERSION, StateError, SystemState};

/// Parses state JSON of any schema up to [`SCHEMA_VERSION`] into the current [`SystemState`].
///
/// ```
/// let v1 = r#"{"schema":1,"system":"demo","generation":0,"resources":{},"tasks":{},
///              "runs":[{"action":"initiate","started":1,"finished":2,"success":true,"by":"me@h"}]}"#;
/// let s = hoist_state::from_json(v1.as_bytes(), "example").unwrap();
/// assert_eq!(s.schema, hoist_state::SCHEMA_VERSION);
/// assert!(s.runs[0].success());
/// ```
pub fn from_json(bytes: &[u8], location: &str) -> Result<SystemState, StateError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| corrupt("?", location, e))?;
    from_value(value, location)
}

/// [`from_json`] for an already parsed value.
pub fn from_value(mut value: Value, location: &str) -> Result<SystemState, StateError> {
    let system = value
        .get("system")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let Some(found) = value.get("schema").and_then(Value::as_u64) else {
        return Err(corrupt(
            &system,
            location,
            "no `schema` version number at the top level",
        ));
    };
    let found = u32::try_from(found).unwrap_or(u32::MAX);
    if found > SCHEMA_VERSION {
        return Err(StateError::TooNew { system, found });
    }
    if found == 0 {
        return Err(corrupt(
            &system,
            location,
            "schema version 0 does not exist",
        ));
    }
    if found < 2 {
        value = v1_to_v2(value).map_err(|m| corrupt(&system, location, m))?;
    }
    // 2 -> 3: resources gain an optional `identity` (absent: unknown, not checked); task keys
    // are renamed by the orchestrator, which needs the models for it.
    // 3 -> 4: resources gain `spec` (absent: none recorded, the next run takes the models as
    // the baseline), `incarnation` (0), `protect` (false) and `deposed_of` (none).
    // 4 -> 5: resources gain `updating` (absent: no update in flight), tasks `fingerprint`
    // (absent: the next run records the models' as the baseline).
    let mut s: SystemState =
        serde_json::from_value(value).map_err(|e| corrupt(&system, location, e))?;
    s.schema = SCHEMA_VERSION;
    Ok(s)
}

fn corrupt(system: &str, location: &str, e: impl std::fmt::Display) -> StateError {
    StateError::Corrupt {
        system: system.to_string(),
        location: location.to_string(),
        message: e.to_string(),
    }
}

/// The generation a v1 token (`hoist-<hash>-g<N>`) was made in.
pub(crate) fn generation_of_token(token: &str) -> Option<u64> {
    token.rsplit_once("-g")?.1.parse().ok()
}

/// Schema 1 → 2: resources gain `tags` (the ones hoist 1 sent with every create) and their
/// `generation` (from their token); runs gain an `id` and an `outcome`; the system gains
/// `lkg`/`lkb`.
fn v1_to_v2(mut v: Value) -> Result<Value, String> {
    let obj = v.as_object_mut().ok_or("the state is not a JSON object")?;
    let system = obj
        .get("system")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let generation = obj.get("generation").and_then(Value::as_u64).unwrap_or(0);
    if let Some(resources) = obj.get_mut("resources").and_then(Value::as_object_mut) {
        for (key, r) in resources.iter_mut() {
            let r = r
                .as_object_mut()
                .ok_or_else(|| format!("resource `{key}` is not an object"))?;
            let token = r
                .get("token")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let g = generation_of_token(&token).unwrap_or(generation);
            r.entry("generation").or_insert(json!(g));
            r.entry("tags").or_insert_with(
                || json!({"hoist:system": system, "hoist:resource": key, "hoist:token": token}),
            );
        }
    }
    if let Some(runs) = obj.get_mut("runs").and_then(Value::as_array_mut) {
        for (i, run) in runs.iter_mut().enumerate() {
            let r = run
                .as_object_mut()
                .ok_or_else(|| format!("run {i} is not an object"))?;
            let success = r
                .remove("success")
                .and_then(|s| s.as_bool())
                .unwrap_or(false);
            r.entry("id").or_insert(json!(format!("v1-{i}")));
            r.entry("outcome")
                .or_insert(json!(if success { "succeeded" } else { "failed" }));
        }
    }
    obj.entry("lkg").or_insert(Value::Null);
    obj.entry("lkb").or_insert(Value::Null);
    obj.insert("schema".into(), json!(2));
    Ok(Value::Object(std::mem::take(obj)))
}
