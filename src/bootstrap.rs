//! Process start-up for the bootstrap binary: the diagnostic log subscriber, set from what
//! Lambda's advanced logging controls put in the environment, and the AWS SDK configuration.
//!
//! Both are small on purpose (issue 13, bench/results/profiles.md): lambda_runtime's own
//! subscriber pulls an environment filter with a regex engine, and aws-config's default
//! credential chain carries STS, IMDS and profile-file code a Lambda never uses.

use tracing::level_filters::LevelFilter;

/// How diagnostic lines are written (`AWS_LAMBDA_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Plain text lines without ANSI colours (anything but `JSON`, or unset).
    Text,
    /// One JSON object per line (`JSON`, any case).
    Json,
}

/// The log subscriber's settings, read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: LevelFilter,
    /// A warning to log once the subscriber is installed: the level variable did not parse.
    pub warning: Option<String>,
}

/// The accepted level names, for the warning.
const LEVELS: &str = "TRACE, DEBUG, INFO, WARN, ERROR, FATAL or OFF";

/// A plain level name, any case: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `OFF`, and Lambda's
/// `FATAL` (read as `ERROR`, the most severe level `tracing` has). `None` otherwise.
pub fn parse_level(value: &str) -> Option<LevelFilter> {
    match value.trim().to_ascii_uppercase().as_str() {
        "TRACE" => Some(LevelFilter::TRACE),
        "DEBUG" => Some(LevelFilter::DEBUG),
        "INFO" => Some(LevelFilter::INFO),
        "WARN" => Some(LevelFilter::WARN),
        "ERROR" | "FATAL" => Some(LevelFilter::ERROR),
        "OFF" => Some(LevelFilter::OFF),
        _ => None,
    }
}

/// The settings from `env` (a variable's value by name): `AWS_LAMBDA_LOG_FORMAT` (`JSON` or
/// text), the level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `INFO`. An empty value
/// counts as unset; a value that is not a level name means `INFO` and a warning naming it.
pub fn log_settings(env: impl Fn(&str) -> Option<String>) -> LogSettings {
    let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let format = match get("AWS_LAMBDA_LOG_FORMAT") {
        Some(f) if f.trim().eq_ignore_ascii_case("json") => LogFormat::Json,
        _ => LogFormat::Text,
    };
    let named = ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .into_iter()
        .find_map(|name| get(name).map(|value| (name, value)));
    let (level, warning) = match named {
        None => (LevelFilter::INFO, None),
        Some((name, value)) => match parse_level(&value) {
            Some(level) => (level, None),
            None => (
                LevelFilter::INFO,
                Some(format!(
                    "{name}={value:?} is not a log level ({LEVELS}): logging at INFO"
                )),
            ),
        },
    };
    LogSettings {
        format,
        level,
        warning,
    }
}

/// Installs the diagnostic log subscriber: stdout (Lambda sends it to CloudWatch Logs), no
/// timestamps (Lambda adds them), no targets, no colours, as lambda_runtime's default did.
/// Does nothing if a subscriber is already installed.
pub fn init_logging() {
    let settings = log_settings(|name| std::env::var(name).ok());
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(settings.level)
        .with_writer(std::io::stdout);
    let installed = match settings.format {
        LogFormat::Json => builder.json().try_init().is_ok(),
        LogFormat::Text => builder.try_init().is_ok(),
    };
    if let (true, Some(warning)) = (installed, settings.warning) {
        tracing::warn!("{warning}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> LogSettings {
        log_settings(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn nothing_set_means_text_at_info() {
        // GIVEN no logging variable WHEN the settings are read THEN text lines at INFO
        assert_eq!(
            settings(&[]),
            LogSettings {
                format: LogFormat::Text,
                level: LevelFilter::INFO,
                warning: None
            }
        );
    }

    #[test]
    fn lambda_format_and_level_are_honoured_in_any_case() {
        // GIVEN Lambda's advanced logging controls, in the cases Lambda and users write them
        for (format, level, want_format, want_level) in [
            ("JSON", "DEBUG", LogFormat::Json, LevelFilter::DEBUG),
            ("json", "warn", LogFormat::Json, LevelFilter::WARN),
            ("Text", "ERROR", LogFormat::Text, LevelFilter::ERROR),
            ("Text", "FATAL", LogFormat::Text, LevelFilter::ERROR),
            ("", "trace", LogFormat::Text, LevelFilter::TRACE),
        ] {
            // WHEN the settings are read
            let s = settings(&[
                ("AWS_LAMBDA_LOG_FORMAT", format),
                ("AWS_LAMBDA_LOG_LEVEL", level),
            ]);
            // THEN format and level follow them, without a warning
            assert_eq!((s.format, s.level), (want_format, want_level), "{format} {level}");
            assert_eq!(s.warning, None);
        }
    }

    #[test]
    fn the_lambda_level_wins_over_rust_log_which_is_the_fallback() {
        // GIVEN both level variables, then RUST_LOG alone, then an empty Lambda level
        let both = settings(&[("AWS_LAMBDA_LOG_LEVEL", "ERROR"), ("RUST_LOG", "debug")]);
        let rust_log = settings(&[("RUST_LOG", "debug")]);
        let empty = settings(&[("AWS_LAMBDA_LOG_LEVEL", " "), ("RUST_LOG", "off")]);
        // THEN AWS_LAMBDA_LOG_LEVEL decides when set, RUST_LOG otherwise
        assert_eq!(both.level, LevelFilter::ERROR);
        assert_eq!(rust_log.level, LevelFilter::DEBUG);
        assert_eq!(empty.level, LevelFilter::OFF);
    }

    #[test]
    fn a_level_that_does_not_parse_means_info_and_a_warning_naming_the_variable() {
        // GIVEN a RUST_LOG directive list (not a plain level) WHEN the settings are read
        let s = settings(&[("RUST_LOG", "kms_material_guard=debug")]);
        // THEN INFO, and a warning naming the variable, its value and the accepted names
        assert_eq!(s.level, LevelFilter::INFO);
        let warning = s.warning.expect("a warning");
        assert!(warning.starts_with("RUST_LOG=\"kms_material_guard=debug\""), "{warning}");
        assert!(warning.contains("TRACE, DEBUG, INFO, WARN, ERROR"), "{warning}");
    }
}
