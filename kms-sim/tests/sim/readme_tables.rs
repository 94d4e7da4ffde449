//! The README's conformance table is kept current by this suite: its operation table lists
//! exactly the operations kms-sim serves, the recordings it cites exist and are replayed, and the
//! Operations table documents every operation.

use std::collections::BTreeSet;

use kms_sim::KMS_OPERATIONS;

use crate::recorded::recordings;

const README: &str = include_str!("../../README.md");
/// The conformance tests that replay recordings.
const CONFORMANCE_SOURCES: &[&str] = &[
    include_str!("conformance.rs"),
    include_str!("conformance_aws_kms.rs"),
    include_str!("conformance_specs.rs"),
];

/// The rows (cells, trimmed) of the first table after the heading `heading` whose header row
/// starts with `| first_column |`.
fn table(heading: &str, first_column: &str) -> Vec<Vec<String>> {
    let section = README
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no heading {heading:?}"))
        .1;
    let header = format!("| {first_column} |");
    let start = section
        .find(&header)
        .unwrap_or_else(|| panic!("no table starting with {header:?} under {heading:?}"));
    section[start..]
        .lines()
        .skip(2) // header and separator
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// The `test_...` recording names in backticks in `cell`.
fn cited_recordings(cell: &str) -> Vec<&str> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("test_"))
        .collect()
}

#[test]
fn the_conformance_table_lists_exactly_the_operations_kms_sim_serves() {
    // GIVEN the operation table of the README's conformance section
    let rows = table("## Conformance table", "operation");
    let listed: Vec<&str> = rows.iter().map(|r| r[0].trim_matches('`')).collect();
    // WHEN compared with the operations the simulator dispatches
    let served: BTreeSet<&str> = KMS_OPERATIONS.iter().copied().collect();
    let in_table: BTreeSet<&str> = listed.iter().copied().collect();
    // THEN none is missing, none is extra, none is listed twice, and every row has 5 columns
    let missing: Vec<&&str> = served.difference(&in_table).collect();
    let extra: Vec<&&str> = in_table.difference(&served).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "README.md conformance table: missing operations {missing:?}, operations kms-sim does \
         not serve {extra:?}"
    );
    assert_eq!(listed.len(), in_table.len(), "an operation is listed twice");
    for r in &rows {
        assert_eq!(r.len(), 5, "row {r:?} must have 5 columns");
    }
}

#[test]
fn every_recording_the_conformance_table_cites_exists_and_is_replayed() {
    // GIVEN the AWS column of every row
    let rows = table("## Conformance table", "operation");
    let data = recordings();
    for r in &rows {
        let cited = cited_recordings(&r[3]);
        // THEN a row claiming "recorded" names at least one recording
        if r[3].starts_with("recorded") {
            assert!(
                !cited.is_empty(),
                "{}: recorded, but which recording?",
                r[0]
            );
        }
        for name in cited {
            // AND each named recording is in the data file
            assert!(
                data.get(name).is_some(),
                "{}: recording {name} is not in tests/data/kms-aws-recorded-responses.json",
                r[0]
            );
            // AND a conformance test replays it (parameterised names are built with format!)
            let base = name.split('[').next().unwrap_or(name);
            assert!(
                CONFORMANCE_SOURCES
                    .iter()
                    .any(|src| src.contains(&format!("\"{base}"))),
                "{}: recording {name} is not replayed by tests/sim/conformance*.rs",
                r[0]
            );
        }
    }
}

#[test]
fn the_operations_table_documents_every_operation() {
    // GIVEN the first column of the README's Operations table (several operations per row)
    let rows = table("### Operations", "operation");
    let documented: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| {
            r[0].split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
        })
        .collect();
    // THEN every served operation is documented there
    let undocumented: Vec<&str> = KMS_OPERATIONS
        .iter()
        .copied()
        .filter(|op| !documented.contains(op))
        .collect();
    assert!(
        undocumented.is_empty(),
        "README.md Operations table does not document {undocumented:?}"
    );
}

#[test]
fn the_table_parser_sees_a_missing_row() {
    // GIVEN the parsed operation table WHEN one row is dropped THEN the set no longer matches:
    // the check above is able to fail
    let rows = table("## Conformance table", "operation");
    let fewer: BTreeSet<&str> = rows.iter().skip(1).map(|r| r[0].as_str()).collect();
    let served: BTreeSet<&str> = KMS_OPERATIONS.iter().copied().collect();
    assert_ne!(fewer, served);
    assert_eq!(
        cited_recordings("recorded (`test_a`, `x`, `test_b[P]`)"),
        ["test_a", "test_b[P]"]
    );
}
