//! Conformance of AWS_KMS keys, import parameters, tags and ciphertext errors: replays the
//! recorded AWS responses (see `conformance.rs` for the method).

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{AlgorithmSpec, Tag, WrappingKeySpec};
use serde_json::{Value, json};

use crate::common::err_of;
use crate::recorded::{Norm, check, check_error, create_aws_kms, describe, encrypt, setup};

#[tokio::test]
async fn import_parameters_for_an_aws_kms_key_match_aws() {
    // GIVEN an AWS_KMS key
    let (sim, kms) = setup().await;
    let meta = create_aws_kms(&kms, "test-key").await;
    let arn = meta.arn().expect("arn").to_string();
    // WHEN import parameters are requested THEN UnsupportedOperationException (origin)
    let e = kms
        .get_parameters_for_import()
        .key_id(meta.key_id())
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .expect_err("origin");
    let err = err_of(&e);
    check_error(
        "test_get_parameters_for_import",
        "response-error",
        &Norm::default(),
        &arn,
        err.clone(),
    );
    check_error(
        "test_get_parameters_for_import_raises_for_non_external_kms_keys",
        "get-import-parameters-error",
        &Norm::default(),
        &arn,
        err,
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_aws_kms_key_describes_like_aws_and_rotation_changes_its_material() {
    // GIVEN an AWS_KMS key
    let (sim, kms) = setup().await;
    let meta = create_aws_kms(&kms, "test key 123").await;
    let key = meta.key_id().to_string();
    let first = meta
        .current_key_material_id()
        .expect("material")
        .to_string();
    let norm = Norm::default()
        .map(&key, "<key-id:1>")
        .map(&first, "<current-key-material-id:1>");
    // THEN DescribeKey matches test_create_key
    let described = describe(&kms, &key).await;
    check(
        "test_create_key",
        "describe-key",
        &norm,
        described["KeyMetadata"].clone(),
    );
    // WHEN it is rotated on demand
    let out = kms
        .rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .expect("rotate");
    check(
        "test_rotate_on_demand_returns_arn_for_key_id",
        "rotate-on-demand-aws-key",
        &norm,
        json!({"KeyId": out.key_id()}),
    );
    // THEN CurrentKeyMaterialId changes
    let after = describe(&kms, &key).await;
    let second = after["KeyMetadata"]["CurrentKeyMaterialId"]
        .as_str()
        .expect("current")
        .to_string();
    let norm = Norm::default()
        .map(&key, "<key-id:1>")
        .map(&first, "<current-key-material-id:1>")
        .map(&second, "<current-key-material-id:2>");
    const T: &str = "test_key_rotation_updates_current_key_material_id_for_aws_symmetric_keys";
    let test_key = create_aws_kms(&kms, "test-key").await;
    let k2 = test_key.key_id().to_string();
    let m1 = test_key.current_key_material_id().expect("m").to_string();
    let norm2 = Norm::default()
        .map(&k2, "<key-id:1>")
        .map(&m1, "<current-key-material-id:1>");
    check(
        T,
        "describe-key-before-rotation",
        &norm2,
        describe(&kms, &k2).await,
    );
    kms.rotate_key_on_demand()
        .key_id(&k2)
        .send()
        .await
        .expect("rotate");
    let after2 = describe(&kms, &k2).await;
    let m2 = after2["KeyMetadata"]["CurrentKeyMaterialId"]
        .as_str()
        .expect("m2")
        .to_string();
    check(
        T,
        "describe-key-after-rotation",
        &norm2.map(&m2, "<current-key-material-id:2>"),
        after2,
    );
    assert_ne!(norm.text(&second), norm.text(&first));
    sim.shutdown().await;
}

#[tokio::test]
async fn tags_and_untagging_match_aws() {
    const T: &str = "test_create_key_with_tag_and_untag";
    // GIVEN a key created with two tags
    let (sim, kms) = setup().await;
    let tag = |k: &str, v: &str| Tag::builder().tag_key(k).tag_value(v).build().expect("tag");
    let meta = kms
        .create_key()
        .tags(tag("tag1", "value1"))
        .tags(tag("tag2", "value2"))
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .expect("meta")
        .clone();
    let list = |tags: &[Tag]| {
        Value::Array(
            tags.iter()
                .map(|t| json!({"TagKey": t.tag_key(), "TagValue": t.tag_value()}))
                .collect(),
        )
    };
    // THEN ListResourceTags lists them
    let out = kms
        .list_resource_tags()
        .key_id(meta.key_id())
        .send()
        .await
        .expect("ListResourceTags");
    check(T, "list-resource-tags", &Norm::default(), list(out.tags()));
    // WHEN both are removed THEN the list is empty
    kms.untag_resource()
        .key_id(meta.key_id())
        .tag_keys("tag1")
        .tag_keys("tag2")
        .send()
        .await
        .expect("UntagResource");
    let out = kms
        .list_resource_tags()
        .key_id(meta.key_id())
        .send()
        .await
        .expect("ListResourceTags");
    check(
        T,
        "list-resource-tags-after-all-untagged",
        &Norm::default(),
        list(out.tags()),
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_ciphertext_and_wrong_key_errors_match_aws() {
    // GIVEN two keys and a ciphertext under the first
    let (sim, kms) = setup().await;
    let a = create_aws_kms(&kms, "a").await;
    let b = create_aws_kms(&kms, "b").await;
    let (blob, _) = encrypt(&kms, a.key_id()).await;
    // WHEN garbage is decrypted THEN InvalidCiphertextException with an empty message
    let e = kms
        .decrypt()
        .ciphertext_blob(Blob::new(b"not a kms ciphertext at all".to_vec()))
        .send()
        .await
        .expect_err("bad ciphertext");
    check_error(
        "test_key_rotations_encryption_decryption",
        "bad-ciphertext",
        &Norm::default(),
        "",
        err_of(&e),
    );
    // WHEN the ciphertext is decrypted naming the other key THEN IncorrectKeyException
    let e = kms
        .decrypt()
        .ciphertext_blob(blob)
        .key_id(b.key_id())
        .send()
        .await
        .expect_err("wrong key");
    check_error(
        "test_error_messaging_for_invalid_keys",
        "decrypt-invalid-key-id",
        &Norm::default(),
        "",
        err_of(&e),
    );
    sim.shutdown().await;
}
