//! The README's error-class table and the rule table cannot drift: the README's
//! rows are rendered from [`rule`], and this test compares them.

use super::*;

/// The README, as compiled in: editing it rebuilds this test.
const README: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"));

/// The table of the README that starts with the header row of [`error_class_table`].
fn readme_table(readme: &str) -> Option<String> {
    let expected = error_class_table();
    let header = expected.lines().next()?;
    let mut lines = readme.lines().skip_while(|l| *l != header);
    let mut table = String::new();
    for line in lines.by_ref().take_while(|l| l.starts_with('|')) {
        table.push_str(line);
        table.push('\n');
    }
    (!table.is_empty()).then_some(table)
}

#[test]
fn the_readme_error_class_table_is_rendered_from_the_rule_table() {
    let expected = error_class_table();
    let found = readme_table(README);
    assert!(
        found.as_deref() == Some(expected.as_str()),
        "README.md's error-class table (section \"The policy\") differs from the policy's \
         rule table. Replace it with:\n\n{expected}\nREADME has:\n\n{}",
        found.unwrap_or_else(|| "no table with that header".into())
    );
}

#[test]
fn a_changed_readme_row_is_caught() {
    let table = error_class_table();
    let edited = README.replacen("| `billing` |", "| `billing` | 402 only |", 1);
    assert_ne!(readme_table(&edited).as_deref(), Some(table.as_str()));
}

#[test]
fn every_failure_class_has_a_row() {
    for class in ErrorClass::ALL {
        assert_eq!(
            ROWS.contains(&class),
            class != ErrorClass::None,
            "{}",
            class.as_str()
        );
    }
}

#[test]
fn only_the_rules_that_return_to_the_caller_carry_a_reason() {
    for class in ErrorClass::ALL {
        let reason = match rule(class).then {
            Then::ReturnToCaller(reason) => Some(reason),
            _ => None,
        };
        let expected = match class {
            ErrorClass::ContextOverflow => Some(FailureReason::ContextOverflow),
            ErrorClass::ContentPolicy => Some(FailureReason::ContentPolicy),
            _ => None,
        };
        assert_eq!(reason, expected, "{}", class.as_str());
    }
}

#[test]
fn refresh_first_is_the_rule_of_the_auth_classes_only() {
    for class in ErrorClass::ALL {
        assert_eq!(
            rule(class).refresh_first,
            matches!(class, ErrorClass::Auth | ErrorClass::AuthTerminal),
            "{}",
            class.as_str()
        );
    }
}
