//! Ansible's YAML inventory format:
//!
//! ```yaml
//! all:
//!   vars: { ntp: ntp.example.com }
//!   hosts:
//!     mail.example.com:
//!   children:
//!     web:
//!       hosts:
//!         web[01:02].example.com: { http_port: 8080 }
//! ```
//!
//! Read with hand-written serde visitors so that every error, including a bad `ansible_port`
//! or host range, carries the YAML location and path of the offending value.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_yaml::Value;

use crate::error::InventoryError;
use crate::model::{Builder, Inventory, Target};
use crate::special::{Special, classify};
use crate::words::{HostSpec, expand_host_pattern};

pub(crate) fn parse(text: &str, source: &str) -> Result<Inventory, InventoryError> {
    let doc: Doc = serde_yaml::from_str(text).map_err(|e| InventoryError::yaml(source, &e))?;
    let mut b = Builder::new(source);
    for (name, g) in doc.0 {
        add_group(&mut b, &name, g, None)?;
    }
    b.finish()
}

fn add_group(
    b: &mut Builder,
    name: &str,
    g: YGroup,
    parent: Option<&str>,
) -> Result<(), InventoryError> {
    b.group(name, None);
    if let Some(p) = parent {
        b.child(p, name, None)?;
    }
    for key in &g.unknown {
        b.warn(
            None,
            format!("group `{name}`: unexpected key `{key}` (only `hosts`, `vars` and `children` are valid): ignored"),
        );
    }
    for (specs, vars) in &g.hosts {
        for h in specs {
            b.host(name, &h.name, None);
            if let Some(p) = h.port {
                b.apply(
                    Target::Host(&h.name),
                    "ansible_port",
                    Special::Port(p),
                    None,
                );
            }
            for (k, s) in vars {
                b.apply(Target::Host(&h.name), k, s.clone(), None);
            }
        }
    }
    for (k, s) in g.vars {
        b.apply(Target::Group(name), &k, s, None);
    }
    for (child, cg) in g.children {
        add_group(b, &child, cg, Some(name))?;
    }
    Ok(())
}

/// The document: top-level groups.
#[derive(Default)]
struct Doc(Vec<(String, YGroup)>);

#[derive(Default)]
struct YGroup {
    hosts: Vec<HostEntry>,
    vars: Vec<(String, Special)>,
    children: Vec<(String, YGroup)>,
    unknown: Vec<String>,
}

/// A mapping key that must be a scalar name.
struct Name(String);

struct NameVisitor;

impl Visitor<'_> for NameVisitor {
    type Value = Name;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Name, E> {
        Ok(Name(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Name, E> {
        Ok(Name(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Name, E> {
        Ok(Name(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Name, E> {
        Ok(Name(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Name, E> {
        Ok(Name(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Name, E> {
        Ok(Name(v.to_string()))
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NameVisitor)
    }
}

/// A mapping, or null for an empty one.
macro_rules! map_or_null {
    ($visitor:ident, $value:ty, $expecting:literal, |$map:ident| $body:block) => {
        struct $visitor;
        impl<'de> Visitor<'de> for $visitor {
            type Value = $value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($expecting)
            }
            fn visit_unit<E: de::Error>(self) -> Result<$value, E> {
                Ok(<$value>::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<$value, E> {
                Ok(<$value>::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut $map: A) -> Result<$value, A::Error> $body
        }
        impl<'de> Deserialize<'de> for $value {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any($visitor)
            }
        }
    };
}

map_or_null!(
    DocVisitor,
    Doc,
    "a mapping of group names (`all:`, …) to groups",
    |map| {
        let mut out = Vec::new();
        while let Some(Name(k)) = map.next_key()? {
            if k.trim().is_empty() {
                return Err(de::Error::custom("empty group name"));
            }
            let g: YGroup = map.next_value()?;
            out.push((k, g));
        }
        Ok(Doc(out))
    }
);

map_or_null!(
    GroupVisitor,
    YGroup,
    "a group: a mapping with `hosts`, `vars` and `children`",
    |map| {
        let mut g = YGroup::default();
        while let Some(Name(k)) = map.next_key()? {
            match k.as_str() {
                "hosts" => g.hosts.extend(map.next_value::<Hosts>()?.0),
                "vars" => g.vars.extend(map.next_value::<Vars>()?.0),
                "children" => g.children.extend(map.next_value::<Children>()?.0),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    g.unknown.push(k);
                }
            }
        }
        Ok(g)
    }
);

#[derive(Default)]
struct Hosts(Vec<HostEntry>);

/// The hosts a host key names, and their variables.
type HostEntry = (Vec<HostSpec>, Vec<(String, Special)>);

map_or_null!(
    HostsVisitor,
    Hosts,
    "a mapping of host names to their variables",
    |map| {
        let mut out = Vec::new();
        while let Some(specs) = map.next_key_seed(HostKey)? {
            let v: Vars = map.next_value()?;
            out.push((specs, v.0));
        }
        Ok(Hosts(out))
    }
);

#[derive(Default)]
struct Vars(Vec<(String, Special)>);

map_or_null!(
    VarsVisitor,
    Vars,
    "a mapping of variable names to values",
    |map| {
        let mut out = Vec::new();
        while let Some(Name(k)) = map.next_key()? {
            if k.is_empty() {
                return Err(de::Error::custom("empty variable name"));
            }
            let s = map.next_value_seed(VarValue(&k))?;
            out.push((k, s));
        }
        Ok(Vars(out))
    }
);

#[derive(Default)]
struct Children(Vec<(String, YGroup)>);

map_or_null!(
    ChildrenVisitor,
    Children,
    "a mapping of child group names to groups",
    |map| {
        let mut out = Vec::new();
        while let Some(Name(k)) = map.next_key()? {
            if k.trim().is_empty() {
                return Err(de::Error::custom("empty group name"));
            }
            let g: YGroup = map.next_value()?;
            out.push((k, g));
        }
        Ok(Children(out))
    }
);

/// A host pattern key, expanded (`web[01:03]:2222`).
struct HostKey;

impl<'de> DeserializeSeed<'de> for HostKey {
    type Value = Vec<HostSpec>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<HostSpec>, D::Error> {
        let Name(n) = Name::deserialize(d)?;
        expand_host_pattern(&n).map_err(de::Error::custom)
    }
}

/// A variable's value, interpreted for its name. Interpreting it inside the deserializer's
/// own visit makes errors point at the value itself (`all.hosts.db1.ansible_port`).
struct VarValue<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for VarValue<'_> {
    type Value = Special;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Special, D::Error> {
        d.deserialize_any(self)
    }
}

impl VarValue<'_> {
    fn classify<E: de::Error>(&self, text: &str) -> Result<Special, E> {
        classify(self.0, text).map_err(E::custom)
    }

    fn value<E: de::Error>(&self, v: &Value) -> Result<Special, E> {
        match text(v) {
            Some(t) => self.classify(&t),
            None => Ok(Special::Ignored(Some(format!(
                "`{}` is an Ansible Vault encrypted value, which hoist cannot decrypt: ignored",
                self.0
            )))),
        }
    }
}

impl<'de> Visitor<'de> for VarValue<'_> {
    type Value = Special;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Special, E> {
        self.classify("")
    }
    fn visit_none<E: de::Error>(self) -> Result<Special, E> {
        self.classify("")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Special, E> {
        self.classify(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Special, E> {
        self.classify(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Special, E> {
        self.classify(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Special, E> {
        self.value(&Value::from(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Special, E> {
        self.classify(v)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Special, A::Error> {
        let v = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        self.value(&v)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Special, A::Error> {
        let v = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        self.value(&v)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Special, A::Error> {
        use de::VariantAccess;
        let (tag, variant): (String, _) = data.variant()?;
        let inner: Value = variant.newtype_variant()?;
        if tag.trim_start_matches('!') == "vault" {
            return self.value(&Value::Tagged(Box::new(serde_yaml::value::TaggedValue {
                tag: serde_yaml::value::Tag::new("vault"),
                value: inner,
            })));
        }
        self.value(&inner)
    }
}

/// A YAML value as variable text: scalars as written, lists and mappings as JSON, null as
/// empty; `None` for a `!vault` value.
fn text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(_) | Value::Mapping(_) => serde_json::to_string(v).unwrap_or_default(),
        Value::Tagged(t) => {
            if t.tag == "vault" {
                return None;
            }
            return text(&t.value);
        }
    })
}
