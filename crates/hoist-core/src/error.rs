//! Plan errors: every modelling mistake, reported with the model, the path and the source
//! location, before any provider is called.

use std::fmt;

use crate::path::{ModelPath, SourceLoc};

/// What kind of modelling mistake a [`Diagnostic`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DiagKind {
    /// A reference that names nothing.
    UnresolvedReference,
    /// A reference to the wrong kind of component (a role where a resource was expected…).
    WrongKind,
    /// A `!{NAME}` with no visible variable, or a variable declared without a value.
    MissingVariable,
    /// Variables that refer to each other in a loop.
    VariableCycle,
    /// Tasks that depend on each other in a loop.
    TaskCycle,
    /// Resources that refer to each other in a loop.
    ResourceCycle,
    /// Two things with one name.
    DuplicateName,
    /// A task with no role (none on the task, none in any enclosing defaults).
    NoRole,
    /// A task whose role has no host.
    NoHost,
    /// A bad argument (bad CIDR, malformed template, bad regex, …).
    BadArgument,
    /// No provisioner proxy can handle a resource.
    NoProvider,
    /// A model given in the wrong place (roles in an infra model, …).
    WrongModel,
    /// A selection that picks nothing (warning).
    EmptySelection,
    /// A variable set twice in one scope (warning).
    DuplicateVariable,
    /// An override of a variable that no namespace declares (warning).
    UnknownOverride,
}

impl fmt::Display for DiagKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DiagKind::UnresolvedReference => "unresolved reference",
            DiagKind::WrongKind => "wrong kind of component",
            DiagKind::MissingVariable => "missing variable",
            DiagKind::VariableCycle => "variable cycle",
            DiagKind::TaskCycle => "task dependency cycle",
            DiagKind::ResourceCycle => "resource dependency cycle",
            DiagKind::DuplicateName => "duplicate name",
            DiagKind::NoRole => "task has no role",
            DiagKind::NoHost => "role has no host",
            DiagKind::BadArgument => "bad argument",
            DiagKind::NoProvider => "no provisioner",
            DiagKind::WrongModel => "wrong model",
            DiagKind::EmptySelection => "empty selection",
            DiagKind::DuplicateVariable => "variable set twice",
            DiagKind::UnknownOverride => "override of an undeclared variable",
        })
    }
}

/// One modelling mistake (or warning), located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// What kind of mistake.
    pub kind: DiagKind,
    /// Model instance name.
    pub model: String,
    /// Path of the component in that model.
    pub path: ModelPath,
    /// Source location of the component's declaration.
    pub loc: SourceLoc,
    /// What is wrong, in a lowercase fragment.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = crate::Address::new(self.model.clone(), self.path.clone());
        write!(f, "{}: {}\n  --> {at}", self.kind, self.message)?;
        if self.loc.is_known() {
            write!(f, " ({})", self.loc)?;
        }
        Ok(())
    }
}

/// The plan could not be made: the models have mistakes. Nothing was sent to any cloud.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PlanError {
    /// Every mistake found, sorted by model, path and kind.
    pub diagnostics: Vec<Diagnostic>,
}

impl PlanError {
    /// True if some diagnostic is of `kind`.
    pub fn has(&self, kind: DiagKind) -> bool {
        self.diagnostics.iter().any(|d| d.kind == kind)
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.diagnostics.len();
        writeln!(
            f,
            "the models have {n} error{}; nothing was provisioned",
            if n == 1 { "" } else { "s" }
        )?;
        for d in &self.diagnostics {
            writeln!(f, "error: {d}")?;
        }
        Ok(())
    }
}
