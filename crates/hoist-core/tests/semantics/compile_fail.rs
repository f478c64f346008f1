//! Wrong kinds and wrong fields are compile errors: a role's host must be addressable, an
//! output must exist on the resource kind, a reference must point at the kind the field takes.
//! The expected compiler messages are in `tests/ui/*.stderr`.

#[test]
fn wrong_kinds_and_fields_do_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
