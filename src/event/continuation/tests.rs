use super::*;
use crate::domain::Provenance;

fn request() -> RevocationRequest {
    RevocationRequest {
        keys: vec![],
        tags: Default::default(),
        key_material_id: None,
        reason: "r\nmultiline".into(),
        incident_id: "INC-1".into(),
        requested_by: Some("alice".into()),
        dry_run: false,
        targets: None,
    }
}

fn meta(sequence: u64) -> Meta {
    let issued_at = chrono::DateTime::parse_from_rfc3339("2026-12-02T03:00:00Z")
        .expect("time")
        .with_timezone(&Utc);
    Meta {
        sequence,
        parent_request_id: "req-1".into(),
        action: Action::ScheduledRevoke,
        provenance: Provenance {
            source: Some("incident-response".into()),
            event_id: Some("e-1".into()),
            ..Provenance::default()
        },
        nonce: "0123456789abcdef0123456789abcdef".into(),
        issued_at,
        expires_at: issued_at + VALIDITY,
        function: Some("arn:aws:lambda:us-east-1:111111111111:function:guard".into()),
    }
}

fn parsed_body(body: &str) -> Result<(RevocationRequest, Meta), Rejection> {
    parse(&serde_json::from_str(body).expect("body is JSON"))
}

#[test]
fn a_payload_round_trips() {
    // GIVEN a continuation of two keys, one with its own finding context
    let meta = meta(2);
    let keys = vec![
        ContinuedKey {
            key: "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                .into(),
            context: None,
        },
        ContinuedKey {
            key: "alias/x".into(),
            context: Some(KeyContext {
                incident_id: "finding-1".into(),
                reason: "because".into(),
            }),
        },
    ];
    // WHEN it is sealed into a payload and read back
    let sealed = Sealed {
        body: body(&meta, &request(), &keys),
        mac: "ab".repeat(32),
    };
    let back = parse_sealed(&payload(&sealed)["continuation"]).expect("envelope");
    let (req, back_meta) = parsed_body(&back.body).expect("parses");
    // THEN everything survives, byte for byte in the body
    assert_eq!(back, sealed);
    assert_eq!(back_meta, meta);
    assert_eq!(req.keys.len(), 2);
    assert_eq!(
        req.keys[1].context.as_ref().map(|c| c.incident_id.as_str()),
        Some("finding-1")
    );
    assert_eq!(req.reason, "r\nmultiline");
}

#[test]
fn a_malformed_envelope_or_body_is_rejected_with_its_location() {
    let good = Sealed {
        body: body(
            &meta(1),
            &request(),
            &[ContinuedKey {
                key: "alias/a".into(),
                context: None,
            }],
        ),
        mac: "ab".repeat(32),
    };
    // the envelope: version 1 (unsealed), a short MAC, an extra field
    let mut bad = payload(&good);
    bad["continuation"]["version"] = json!(1);
    assert_eq!(
        parse_sealed(&bad["continuation"]).expect_err("v1").code,
        "UnsupportedVersion"
    );
    let mut bad = payload(&good);
    bad["continuation"]["mac"] = json!("abcd");
    assert_eq!(
        parse_sealed(&bad["continuation"])
            .expect_err("mac")
            .location,
        "continuation.mac"
    );
    let mut bad = payload(&good);
    bad["continuation"]["keys"] = json!([]);
    assert_eq!(
        parse_sealed(&bad["continuation"])
            .expect_err("unknown")
            .code,
        "UnknownField"
    );
    // the body: a sequence out of range, no keys, a material delete without acknowledgement
    let mut b: Value = serde_json::from_str(&good.body).expect("json");
    b["sequence"] = json!(MAX_SEQUENCE + 1);
    assert_eq!(
        parse(&b).expect_err("too deep").location,
        "continuation.body.sequence"
    );
    let mut b: Value = serde_json::from_str(&good.body).expect("json");
    b["keys"] = json!([]);
    assert_eq!(
        parse(&b).expect_err("empty").location,
        "continuation.body.keys"
    );
    let mut b: Value = serde_json::from_str(&good.body).expect("json");
    b["keyMaterialId"] = json!("a".repeat(64));
    b["acknowledgeKeyWide"] = json!(false);
    assert_eq!(
        parse(&b).expect_err("unacknowledged").code,
        "AcknowledgeKeyWideRequired"
    );
}
