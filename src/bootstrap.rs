//! Process start-up for the bootstrap binary: the diagnostic log subscriber, set from what
//! Lambda's advanced logging controls put in the environment, and the AWS SDK configuration.
//!
//! Both are small on purpose (issue 13, bench/results/profiles.md): lambda_runtime's own
//! subscriber pulls an environment filter with a regex engine, and aws-config's default
//! credential chain carries STS, IMDS and profile-file code a Lambda never uses.

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_kms::config::BehaviorVersion;
use aws_types::SdkConfig;
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use tracing::level_filters::LevelFilter;

use crate::Config;

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

/// The AWS SDK configuration every client is built from, without aws-config's default chain:
/// the function's Region; credentials from the environment only, as Lambda provides them
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); the endpoint variables
/// (`AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`, both off when
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`); `AWS_USE_FIPS_ENDPOINT` and
/// `AWS_USE_DUALSTACK_ENDPOINT`. The rest is the SDK clients' default for the behaviour version
/// (standard retries, 3.1 s connect timeout, the default HTTPS client). An error names the
/// variable that is missing or malformed.
pub fn sdk_config(config: &Config) -> Result<SdkConfig, String> {
    sdk_config_from(config, std::env::vars().collect())
}

/// [`sdk_config`] from the given environment variables (name, value).
pub fn sdk_config_from(config: &Config, vars: Vec<(String, String)>) -> Result<SdkConfig, String> {
    let env = Vars(vars);
    let (id, secret) = match (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(id), Some(secret)) => (id, secret),
        (id, _) => {
            let missing = match id {
                None => "AWS_ACCESS_KEY_ID",
                Some(_) => "AWS_SECRET_ACCESS_KEY",
            };
            return Err(format!(
                "{missing} is not set: the function takes its credentials from the environment only, as Lambda provides them (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)"
            ));
        }
    };
    let token = env.get("AWS_SESSION_TOKEN").map(str::to_string);
    let credentials = Credentials::new(id, secret, token, None, "Environment");
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::v2026_01_12())
        .region(Region::new(config.region.clone()))
        .credentials_provider(SharedCredentialsProvider::new(credentials));
    if let Some(fips) = env.flag("AWS_USE_FIPS_ENDPOINT")? {
        builder = builder.use_fips(fips);
    }
    if let Some(dual_stack) = env.flag("AWS_USE_DUALSTACK_ENDPOINT")? {
        builder = builder.use_dual_stack(dual_stack);
    }
    if env.flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")? != Some(true) {
        let mut endpoints = env.0;
        endpoints.retain(|(name, url)| name.starts_with(ENDPOINT_URL) && !url.trim().is_empty());
        builder = builder.service_config(Vars(endpoints));
    }
    Ok(builder.build())
}

/// The global endpoint variable; `AWS_ENDPOINT_URL_<SERVICE ID>` names one service's endpoint.
const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";

/// Environment variables; an empty (or blank) value counts as unset.
#[derive(Debug)]
struct Vars(Vec<(String, String)>);

impl Vars {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn flag(&self, name: &str) -> Result<Option<bool>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(format!("{name}={v:?} is not true or false")),
        }
    }
}

/// What the SDK clients ask for when they are built: the endpoint of their service, as
/// aws-config reads it (`AWS_ENDPOINT_URL_KMS`, `AWS_ENDPOINT_URL_LAMBDA`, ..., where the
/// service id is upper-cased with spaces as `_`); the global `AWS_ENDPOINT_URL` is their
/// fallback.
impl LoadServiceConfig for Vars {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_uppercase().replace(' ', "_");
        let specific = format!("{}_{service}", key.env());
        self.get(&specific)
            .or_else(|| self.get(key.env()))
            .map(str::to_string)
    }
}

/// The variables the Lambda runtime client needs (Lambda and every emulator set them), checked
/// before it starts: `lambda_runtime` 1.5 panics with a backtrace when one is missing; this says
/// which in words.
pub fn check_runtime_environment(env: impl Fn(&str) -> Option<String>) -> Result<(), String> {
    for name in [
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    ] {
        match env(name) {
            None => {
                return Err(format!(
                    "{name} is not set: it is set by Lambda or a local emulator (cargo lambda watch), \
                     which start this binary"
                ));
            }
            Some(v) if name == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" && v.parse::<i32>().is_err() => {
                return Err(format!("{name} is {v:?}: expected a whole number of MB"));
            }
            Some(_) => {}
        }
    }
    Ok(())
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
            assert_eq!(
                (s.format, s.level),
                (want_format, want_level),
                "{format} {level}"
            );
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
        assert!(
            warning.starts_with("RUST_LOG=\"kms_material_guard=debug\""),
            "{warning}"
        );
        assert!(
            warning.contains("TRACE, DEBUG, INFO, WARN, ERROR"),
            "{warning}"
        );
    }

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const KEYS: [(&str, &str); 2] = [
        ("AWS_ACCESS_KEY_ID", "AKIDLOCAL"),
        ("AWS_SECRET_ACCESS_KEY", "local-secret"),
    ];

    fn endpoint(sdk: &SdkConfig, service_id: &str) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .expect("key");
        sdk.service_config()?.load_config(key)
    }

    #[test]
    fn credentials_come_from_the_environment_and_their_absence_is_named() {
        // GIVEN Lambda's credential variables, then the secret missing, then nothing
        let mut lambda = KEYS.to_vec();
        lambda.push(("AWS_SESSION_TOKEN", "token"));
        let sdk = sdk_config_from(&Config::default(), vars(&lambda)).expect("config");
        let no_secret = sdk_config_from(&Config::default(), vars(&KEYS[..1]));
        let nothing = sdk_config_from(&Config::default(), vars(&[("AWS_ACCESS_KEY_ID", " ")]));
        // THEN the SDK signs with them in the function's Region; a missing one is named
        assert!(sdk.credentials_provider().is_some());
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-1"));
        let err = no_secret.expect_err("no secret");
        assert!(err.starts_with("AWS_SECRET_ACCESS_KEY is not set"), "{err}");
        let err = nothing.expect_err("nothing");
        assert!(err.starts_with("AWS_ACCESS_KEY_ID is not set"), "{err}");
    }

    #[test]
    fn each_service_finds_its_endpoint_variable_then_the_global_one() {
        // GIVEN a KMS endpoint, a global endpoint and an empty Lambda endpoint
        let mut env = KEYS.to_vec();
        env.extend([
            ("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:4599"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9001"),
            ("AWS_ENDPOINT_URL_LAMBDA", ""),
        ]);
        // WHEN the SDK configuration is built
        let sdk = sdk_config_from(&Config::default(), vars(&env)).expect("config");
        // THEN KMS uses its own, the others the global one (an empty value counts as unset)
        assert_eq!(
            endpoint(&sdk, "KMS").as_deref(),
            Some("http://127.0.0.1:4599")
        );
        assert_eq!(
            endpoint(&sdk, "Lambda").as_deref(),
            Some("http://127.0.0.1:9001")
        );
        assert_eq!(
            endpoint(&sdk, "EventBridge").as_deref(),
            Some("http://127.0.0.1:9001")
        );
    }

    #[test]
    fn configured_endpoints_can_be_ignored_and_flags_must_be_booleans() {
        // GIVEN endpoints with AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, and FIPS set
        let mut env = KEYS.to_vec();
        env.extend([
            ("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:4599"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE"),
            ("AWS_USE_FIPS_ENDPOINT", "true"),
        ]);
        let sdk = sdk_config_from(&Config::default(), vars(&env)).expect("config");
        let mut bad = KEYS.to_vec();
        bad.push(("AWS_USE_DUALSTACK_ENDPOINT", "yes"));
        // THEN no endpoint is configured and FIPS is on; a flag that is not a boolean is named
        assert_eq!(endpoint(&sdk, "KMS"), None);
        assert_eq!(sdk.use_fips(), Some(true));
        assert_eq!(sdk.use_dual_stack(), None);
        let err = sdk_config_from(&Config::default(), vars(&bad)).expect_err("bad flag");
        assert_eq!(
            err,
            "AWS_USE_DUALSTACK_ENDPOINT=\"yes\" is not true or false"
        );
    }

    #[test]
    fn a_missing_runtime_variable_is_named_instead_of_a_panic() {
        // GIVEN the variables Lambda sets, one at a time missing or malformed
        let all = [
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("AWS_LAMBDA_FUNCTION_NAME", "guard"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ];
        let lookup = |vars: Vec<(&'static str, &'static str)>| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        // WHEN all are there THEN the runtime may start
        assert_eq!(check_runtime_environment(lookup(all.to_vec())), Ok(()));
        for (missing, _) in all {
            let some: Vec<_> = all.iter().copied().filter(|(k, _)| *k != missing).collect();
            // WHEN one is missing THEN the error names it
            let e = check_runtime_environment(lookup(some)).unwrap_err();
            assert!(e.starts_with(missing), "{e}");
        }
        let mut bad = all.to_vec();
        bad[3].1 = "lots";
        let e = check_runtime_environment(lookup(bad)).unwrap_err();
        assert!(
            e.contains("\"lots\"") && e.contains("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
            "{e}"
        );
    }
}
