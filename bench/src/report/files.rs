//! Writing results: pretty JSON, files, the README's quoted figures, and the one-line section
//! summaries printed while a run goes on.

use std::path::Path;

use serde_json::Value;

pub(crate) fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

/// Writes `text` to `path`, creating its directory.
pub(crate) fn write_file(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Replaces what stands between `<!-- latest -->` and `<!-- /latest -->` in the README with
/// latest.md (without its title). Returns whether the README has the markers.
pub(crate) fn quote_in_readme(readme: &Path, md: &str) -> Result<bool, String> {
    const START: &str = "<!-- latest -->";
    const END: &str = "<!-- /latest -->";
    let Ok(text) = std::fs::read_to_string(readme) else {
        return Ok(false);
    };
    let (Some(a), Some(b)) = (text.find(START), text.find(END)) else {
        return Ok(false);
    };
    if b < a {
        return Ok(false);
    }
    let body = md.split_once('\n').map_or(md, |(_, rest)| rest).trim();
    let updated = format!("{}{START}\n{body}\n{}", &text[..a], &text[b..]);
    write_file(readme, &updated)?;
    Ok(true)
}

/// Prints a section's figures on one line, without samples and definitions.
pub(crate) fn print_section(name: &str, v: &Value) {
    let mut brief = v.clone();
    strip_samples(&mut brief);
    println!(
        "{name}: {}",
        serde_json::to_string(&brief).unwrap_or_default()
    );
}

fn strip_samples(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("samples_ms");
            m.remove("definition");
            for x in m.values_mut() {
                strip_samples(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_samples),
        _ => {}
    }
}
