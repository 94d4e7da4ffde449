//! The report as a readable table: one row per member, the keys that still wait, the
//! organization's verdict line and the warnings.

use std::fmt::Write as _;

use super::model::{MemberReport, Phase, Report};
use super::names::REVOKING_OUTCOMES;

const HEADER: [&str; 6] = [
    "ACCOUNT",
    "REGION",
    "STATUS",
    "KEYS",
    "OUTCOMES",
    "LATEST SUMMARY",
];
/// The column aligned to the right (KEYS).
const NUMERIC_COLUMN: usize = 3;

impl Report {
    /// A readable table.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let phase = match self.phase {
            Phase::DryRun => "dry run",
            Phase::Live => "revocation",
        };
        let _ = writeln!(out, "Incident {} ({phase})", self.incident_id);
        let rows: Vec<[String; 6]> = self.members.iter().map(row).collect();
        out.push_str(&aligned(&rows));
        self.write_pending_keys(&mut out);
        self.write_disowned(&mut out);
        let _ = writeln!(out, "{}", self.verdict());
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        if self.input.unreadable > 0 {
            let _ = writeln!(
                out,
                "warning: {} input values looked like JSON but did not parse",
                self.input.unreadable
            );
        }
        out
    }

    fn write_pending_keys(&self, out: &mut String) {
        let pending: Vec<_> = self
            .members
            .iter()
            .flat_map(|m| m.pending_keys.iter().map(move |k| (m, k)))
            .collect();
        if pending.is_empty() {
            return;
        }
        let _ = writeln!(out, "Pending keys:");
        for (m, k) in pending {
            let code = k
                .error_code
                .as_ref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {}/{}  {}  {}{code}",
                m.account, m.region, k.key, k.outcome
            );
        }
    }

    fn write_disowned(&self, out: &mut String) {
        if self.disowned.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "Disowned (published by one member, claiming another; counted for nobody):"
        );
        for d in &self.disowned {
            let key = d.key.as_ref().map(|k| format!("  {k}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {} published by {}, claims {}: {}{key}",
                d.kind, d.published_by, d.claimed, d.state
            );
        }
    }

    /// `Organization: DONE|PENDING|NEEDS ATTENTION: ...` with the members' and keys' counts.
    fn verdict(&self) -> String {
        let o = &self.organization;
        let verdict = match o.status.as_str() {
            "done" => "DONE",
            "failed" => "NEEDS ATTENTION",
            _ => "PENDING",
        };
        let count = |outcome: &str| o.counts.get(outcome).copied().unwrap_or(0);
        let headline = match self.phase {
            Phase::DryRun => format!("{} keys would be revoked", count("would_revoke")),
            Phase::Live => format!(
                "{} keys revoked",
                REVOKING_OUTCOMES.iter().map(|k| count(k)).sum::<u64>()
            ),
        };
        format!(
            "Organization: {verdict}: {} of {} members complete, {} not targeted, {} pending, {} without answer, {} failed; {headline}, {} pending, {} failed",
            o.complete,
            o.members_expected,
            o.not_targeted,
            o.pending,
            o.no_answer,
            o.failed,
            o.keys_pending,
            o.keys_failed
        )
    }
}

/// A member's row.
fn row(m: &MemberReport) -> [String; 6] {
    let outcomes = if m.counts.is_empty() {
        "-".to_string()
    } else {
        m.counts
            .iter()
            .map(|(o, n)| format!("{o}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let latest = match &m.latest_summary {
        Some(s) => match (&s.error_type, &s.continued_by) {
            (Some(e), _) => format!("{} ({e})", s.state),
            (None, Some(c)) => format!("{} (continued by {c})", s.state),
            _ => s.state.clone(),
        },
        None => "-".into(),
    };
    let mut status = m.status.as_str().to_string();
    if !m.expected {
        status.push_str(" (not in inventory)");
    }
    [
        m.account.clone(),
        m.region.clone(),
        status,
        m.keys.to_string(),
        outcomes,
        latest,
    ]
}

/// The header and the rows in aligned columns.
fn aligned(rows: &[[String; 6]]) -> String {
    let mut widths = HEADER.map(str::len);
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == NUMERIC_COLUMN {
                let _ = write!(l, "{:>w$}  ", c, w = widths[i]);
            } else if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{:<w$}  ", c, w = widths[i]);
            }
        }
        l.trim_end().to_string()
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}", line(&HEADER.map(str::to_string)));
    for r in rows {
        let _ = writeln!(out, "{}", line(r));
    }
    out
}
