//! Templates (`Task::template`): minijinja with the settings every template is rendered with,
//! and the check the plan makes of each one before any provider is called.

use std::collections::BTreeSet;

/// The environment templates are rendered in: strict undefined variables (a missing variable
/// is an error, never an empty string), no auto-escaping, the trailing newline kept.
pub fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

/// Parses template `text` (named `name` in errors): the variables it reads that are not
/// minijinja's own globals, or the syntax error.
///
/// ```
/// use hoist_core::template::variables;
/// let names = variables("t", "{{ HOST }}:{% for p in PORTS %}{{ p }}{% endfor %}").unwrap();
/// assert_eq!(names.into_iter().collect::<Vec<_>>(), ["HOST", "PORTS"]);
/// assert!(variables("t", "{{ HOST ").is_err());
/// ```
pub fn variables(name: &str, text: &str) -> Result<BTreeSet<String>, String> {
    let env = environment();
    let tmpl = env
        .template_from_named_str(name, text)
        .map_err(|e| e.to_string())?;
    let globals: BTreeSet<&str> = env.globals().map(|(k, _)| k).collect();
    Ok(tmpl
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !globals.contains(v.as_str()))
        .collect())
}
