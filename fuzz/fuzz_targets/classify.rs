//! Fuzz target `classify`: arbitrary bytes are parsed the way `lambda_runtime` parses an
//! invocation body (`serde_json` from a byte slice) and, when they are JSON, classified with a
//! fixed configuration and identity. The classifier must never panic, and every rejection must
//! say where and what.
#![no_main]

use std::sync::OnceLock;

use kms_material_guard::Config;
use kms_material_guard::event::{Identity, classify};
use libfuzzer_sys::fuzz_target;

const ACCOUNT: &str = "111111111111";

/// Every trigger enabled, so that every parser is reachable: Security Hub imported findings
/// from LOW, a GuardDuty mapping for every finding type, one trusted account.
fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        Config::from_lookup(|name| match name {
            "AWS_REGION" => Some("us-east-1".into()),
            "MATERIAL_GUARD_ACCOUNT_ID" => Some(ACCOUNT.into()),
            "MATERIAL_GUARD_TRUSTED_ACCOUNTS" => Some("222222222222".into()),
            "MATERIAL_GUARD_SECURITYHUB_MIN_SEVERITY" => Some("LOW".into()),
            "MATERIAL_GUARD_GUARDDUTY_MAPPINGS" => {
                Some(r#"[{"findingType": "*", "minSeverity": 0, "tags": {"tenant": "a"}}]"#.into())
            }
            _ => None,
        })
        .expect("the fuzz configuration is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let who = Identity {
        account: ACCOUNT,
        config: config(),
    };
    if let Err(rejected) = classify(&payload, &who) {
        let r = &rejected.rejection;
        assert!(
            !r.location.is_empty() && !r.problem.is_empty() && !r.code.is_empty(),
            "a rejection must say where and what: {r:?}"
        );
    }
});
