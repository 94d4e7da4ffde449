//! Accounts chosen by access key, Regions by credential scope, and paged lists.

use aws_sdk_kms::operation::list_keys::ListKeysError;
use kms_sim::{ImportOptions, ImportType, KeySpec, KmsSim, SimConfig};

use crate::common::{DEFAULT_AKID, client, client_as, err_of, external_key_with_material, sim};

#[tokio::test]
async fn the_access_key_chooses_the_account_and_the_scope_the_region() {
    // GIVEN AKIDPROD mapped to 222222222222
    let sim = KmsSim::start(SimConfig::unlimited().with_account("AKIDPROD", "222222222222"))
        .await
        .expect("start");
    let prod = client_as(&sim, "AKIDPROD", "eu-west-1").await;
    let default = client(&sim).await;
    // WHEN prod creates a key in eu-west-1
    let meta = prod
        .create_key()
        .origin(aws_sdk_kms::types::OriginType::External)
        .send()
        .await
        .expect("create")
        .key_metadata()
        .expect("meta")
        .clone();
    let arn = meta.arn().expect("arn").to_string();
    // THEN it belongs to that account and Region
    assert!(
        arn.starts_with("arn:aws:kms:eu-west-1:222222222222:key/"),
        "{arn}"
    );
    assert_eq!(meta.aws_account_id(), Some("222222222222"));
    // AND the default account (unknown access key) does not list it
    let listed = default.list_keys().send().await.expect("list");
    assert!(listed.keys().is_empty());
    // AND prod in another Region does not know its bare ID
    let prod_us = client_as(&sim, "AKIDPROD", "us-east-1").await;
    let e = prod_us
        .describe_key()
        .key_id(meta.key_id())
        .send()
        .await
        .expect_err("other Region");
    assert_eq!(
        err_of(&e).1,
        format!(
            "Key 'arn:aws:kms:us-east-1:222222222222:key/{}' does not exist",
            meta.key_id()
        )
    );
    // WHEN the default account reads the key by ARN THEN it may (a permissive key policy)
    default
        .describe_key()
        .key_id(&arn)
        .send()
        .await
        .expect("cross-account DescribeKey");
    default
        .list_resource_tags()
        .key_id(&arn)
        .send()
        .await
        .expect("cross-account ListResourceTags");
    // WHEN the default account deletes its material THEN AccessDeniedException
    let e = default
        .delete_imported_key_material()
        .key_id(&arn)
        .send()
        .await
        .expect_err("cross-account delete");
    let (code, message, status) = err_of(&e);
    assert_eq!(
        (code.as_str(), status),
        ("AccessDeniedException", Some(400))
    );
    assert!(
        message.contains("kms:DeleteImportedKeyMaterial"),
        "{message}"
    );
    // AND unknown access keys land in the default account, requests without a scope in us-east-1
    let stranger = client_as(&sim, "AKIDWHOEVER", "us-east-1").await;
    let own = stranger.create_key().send().await.expect("create");
    assert_eq!(
        own.key_metadata().and_then(|m| m.aws_account_id()),
        Some(kms_sim::DEFAULT_ACCOUNT)
    );
    let _ = DEFAULT_AKID;
    sim.shutdown().await;
}

#[tokio::test]
async fn list_keys_pages_with_markers_and_the_paginator_sees_every_key() {
    // GIVEN five keys
    let sim = sim().await;
    let kms = client(&sim).await;
    let mut created: Vec<String> = (0..5)
        .map(|_| sim.store().create_key(KeySpec::external()).key_id)
        .collect();
    // WHEN they are listed two at a time
    let p1 = kms.list_keys().limit(2).send().await.expect("page 1");
    assert!(p1.truncated());
    let p2 = kms
        .list_keys()
        .limit(2)
        .marker(p1.next_marker().expect("marker"))
        .send()
        .await
        .expect("page 2");
    let p3 = kms
        .list_keys()
        .limit(2)
        .marker(p2.next_marker().expect("marker"))
        .send()
        .await
        .expect("page 3");
    // THEN pages of 2, 2, 1 and the last one is not truncated
    assert_eq!(
        (p1.keys().len(), p2.keys().len(), p3.keys().len()),
        (2, 2, 1)
    );
    assert!(!p3.truncated() && p3.next_marker().is_none());
    // AND the SDK paginator collects all five
    let mut all: Vec<String> = kms
        .list_keys()
        .limit(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("paginate")
        .iter()
        .filter_map(|k| k.key_id().map(str::to_string))
        .collect();
    all.sort();
    created.sort();
    assert_eq!(all, created);
    // AND a bad marker or limit is refused
    let e = kms
        .list_keys()
        .marker("garbage")
        .send()
        .await
        .expect_err("marker");
    assert!(matches!(
        e.as_service_error(),
        Some(ListKeysError::InvalidMarkerException(_))
    ));
    let e = kms.list_keys().limit(0).send().await.expect_err("limit");
    assert_eq!(err_of(&e).0, "ValidationException");
    sim.shutdown().await;
}

#[tokio::test]
async fn aliases_tags_and_rotations_page_too() {
    // GIVEN two keys with aliases, one with three tags and three materials
    let sim = sim().await;
    let kms = client(&sim).await;
    let (key, _) = external_key_with_material(&sim, [1; 32]);
    let other = sim
        .store()
        .create_key(KeySpec::external().alias("alias/other"));
    for a in ["alias/a1", "alias/a2", "alias/a3"] {
        kms.create_alias()
            .alias_name(a)
            .target_key_id(&key.key_id)
            .send()
            .await
            .expect("alias");
    }
    for t in ["t1", "t2", "t3"] {
        sim.store().tag(&key.arn, t, "v").expect("tag");
    }
    for m in [[2; 32], [3; 32]] {
        sim.store()
            .import_material(
                &key.arn,
                m,
                ImportOptions {
                    import_type: ImportType::NewKeyMaterial,
                    ..ImportOptions::default()
                },
            )
            .expect("material");
        sim.store().rotate_on_demand(&key.arn).expect("rotate");
    }
    // WHEN aliases of the key are listed one per page THEN three pages, only its aliases
    let aliases: Vec<String> = kms
        .list_aliases()
        .key_id(&key.arn)
        .limit(1)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("aliases")
        .iter()
        .filter_map(|a| a.alias_name().map(str::to_string))
        .collect();
    assert_eq!(aliases, ["alias/a1", "alias/a2", "alias/a3"]);
    // AND without KeyId every alias of the account is listed
    let all = kms.list_aliases().send().await.expect("aliases");
    assert_eq!(all.aliases().len(), 4);
    assert!(
        all.aliases()
            .iter()
            .any(|a| a.target_key_id() == Some(other.key_id.as_str()))
    );
    // AND an existing alias cannot be created twice
    let e = kms
        .create_alias()
        .alias_name("alias/a1")
        .target_key_id(&other.key_id)
        .send()
        .await
        .expect_err("exists");
    assert_eq!(err_of(&e).0, "AlreadyExistsException");
    // WHEN tags are listed one per page THEN all three come back in order
    let p1 = kms
        .list_resource_tags()
        .key_id(&key.key_id)
        .limit(1)
        .send()
        .await
        .expect("tags");
    assert!(p1.truncated());
    let tags: Vec<String> = kms
        .list_resource_tags()
        .key_id(&key.key_id)
        .limit(1)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("tags")
        .iter()
        .map(|t| t.tag_key().to_string())
        .collect();
    assert_eq!(tags, ["t1", "t2", "t3"]);
    // WHEN rotations are listed one per page THEN both rotations come back
    let rotations = kms
        .list_key_rotations()
        .key_id(&key.arn)
        .limit(1)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("rotations");
    assert_eq!(rotations.len(), 2);
    // AND ListKeyRotations refuses a limit above 1000
    let e = kms
        .list_key_rotations()
        .key_id(&key.arn)
        .limit(1001)
        .send()
        .await
        .expect_err("limit");
    assert_eq!(err_of(&e).0, "ValidationException");
    sim.shutdown().await;
}
