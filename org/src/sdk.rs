//! The AWS SDK configuration of a principal of the local organization (a member function or the
//! responder): its Region, the local KMS's endpoint, its own access key.

/// The shared SDK configuration for `access_key_id` in `region`, against `endpoint`.
pub async fn local_sdk_config(
    region: &str,
    endpoint: &str,
    access_key_id: &str,
) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            access_key_id,
            "local-secret",
            None,
            None,
            "org-local",
        ))
        .load()
        .await
}
