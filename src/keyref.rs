//! KMS key identifiers as requests name them ([`KeyRef`]: key id, key ARN, alias name, alias
//! ARN), checked for syntax only, with no KMS call.

use crate::domain::MAX_KEY_IDENTIFIER_CHARS;
use crate::domain::text::short;
use crate::validate::{is_account, is_region};

/// A KMS key identifier, syntactically validated (no KMS call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// `1234abcd-12ab-34cd-56ef-1234567890ab` or `mrk-...`.
    KeyId(String),
    /// `arn:aws:kms:us-east-1:111122223333:key/<key id>`.
    KeyArn(Arn),
    /// `alias/name`.
    AliasName(String),
    /// `arn:aws:kms:us-east-1:111122223333:alias/name`.
    AliasArn(Arn),
}

/// The parts of a KMS ARN this function checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    pub partition: String,
    pub region: String,
    pub account: String,
    /// `key/<id>` or `alias/<name>`.
    pub resource: String,
}

impl KeyRef {
    /// Parses a key id, key ARN, alias name or alias ARN. The error says what is wrong.
    pub fn parse(s: &str) -> Result<KeyRef, String> {
        if s.is_empty() {
            return Err("empty key identifier".into());
        }
        if s.chars().count() > MAX_KEY_IDENTIFIER_CHARS {
            return Err(format!(
                "key identifier longer than {MAX_KEY_IDENTIFIER_CHARS} characters"
            ));
        }
        if let Some(rest) = s.strip_prefix("arn:") {
            parse_arn(rest)
        } else if s.starts_with("alias/") {
            check_alias(s)?;
            Ok(KeyRef::AliasName(s.into()))
        } else {
            check_key_id(s)?;
            Ok(KeyRef::KeyId(s.into()))
        }
    }

    /// The ARN, for key and alias ARNs.
    pub fn arn(&self) -> Option<&Arn> {
        match self {
            KeyRef::KeyArn(a) | KeyRef::AliasArn(a) => Some(a),
            KeyRef::KeyId(_) | KeyRef::AliasName(_) => None,
        }
    }

    /// Whether it names an alias (KMS resolves it to a key; ListResourceTags does not take one).
    pub fn is_alias(&self) -> bool {
        matches!(self, KeyRef::AliasName(_) | KeyRef::AliasArn(_))
    }

    /// The account and Region an ARN names; `None` for ids and alias names (which KMS resolves
    /// in the caller's own account and Region).
    pub fn location(&self) -> Option<(&str, &str)> {
        self.arn().map(|a| (a.account.as_str(), a.region.as_str()))
    }
}

fn parse_arn(rest: &str) -> Result<KeyRef, String> {
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let [partition, service, region, account, resource] = parts[..] else {
        return Err("ARN must have the form arn:<partition>:kms:<region>:<account>:key/<id> or :alias/<name>".into());
    };
    if !(partition == "aws" || partition.starts_with("aws-"))
        || !partition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-')
    {
        return Err(format!(
            "ARN partition {:?} is not an AWS partition",
            short(partition)
        ));
    }
    if service != "kms" {
        return Err(format!("ARN service is {:?}, expected kms", short(service)));
    }
    if !is_region(region) {
        return Err(format!(
            "ARN Region {:?} is not a Region name",
            short(region)
        ));
    }
    if !is_account(account) {
        return Err(format!(
            "ARN account {:?} is not a 12-digit account id",
            short(account)
        ));
    }
    let arn = Arn {
        partition: partition.into(),
        region: region.into(),
        account: account.into(),
        resource: resource.into(),
    };
    if let Some(id) = resource.strip_prefix("key/") {
        check_key_id(id)?;
        Ok(KeyRef::KeyArn(arn))
    } else if resource.starts_with("alias/") {
        check_alias(resource)?;
        Ok(KeyRef::AliasArn(arn))
    } else {
        Err("ARN resource must be key/<id> or alias/<name>".into())
    }
}

/// A key id: a UUID (lowercase or uppercase hex) or a multi-Region `mrk-` + 32 hex digits.
pub fn check_key_id(id: &str) -> Result<(), String> {
    let is_hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let uuid = {
        let groups: Vec<&str> = id.split('-').collect();
        groups.len() == 5
            && groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
            && groups.iter().all(|g| is_hex(g))
    };
    let mrk = id
        .strip_prefix("mrk-")
        .is_some_and(|h| h.len() == 32 && is_hex(h));
    if uuid || mrk {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a key id (a UUID or mrk- followed by 32 hex digits)",
            short(id)
        ))
    }
}

fn check_alias(alias: &str) -> Result<(), String> {
    let name = alias.strip_prefix("alias/").unwrap_or(alias);
    if name.is_empty() || name.len() > 250 {
        return Err("alias name must have 1-250 characters after alias/".into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'_' || b == b'-')
    {
        return Err(format!(
            "alias {:?} may contain only letters, digits, /, _ and -",
            short(alias)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn key_identifiers_of_every_form_parse() {
        assert_eq!(KeyRef::parse(ID), Ok(KeyRef::KeyId(ID.into())));
        assert!(matches!(
            KeyRef::parse("mrk-1234abcd12ab34cd56ef1234567890ab"),
            Ok(KeyRef::KeyId(_))
        ));
        assert!(matches!(
            KeyRef::parse("alias/tenant-a/db"),
            Ok(KeyRef::AliasName(_))
        ));
        let arn = format!("arn:aws:kms:eu-west-1:111122223333:key/{ID}");
        let KeyRef::KeyArn(a) = KeyRef::parse(&arn).expect("arn") else {
            panic!("not a key arn")
        };
        assert_eq!(
            (a.account.as_str(), a.region.as_str()),
            ("111122223333", "eu-west-1")
        );
        assert!(matches!(
            KeyRef::parse("arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/x"),
            Ok(KeyRef::AliasArn(_))
        ));
    }

    #[test]
    fn malformed_identifiers_say_what_is_wrong() {
        for (bad, expect) in [
            ("", "empty"),
            ("not-a-key", "not a key id"),
            ("1234abcd-12ab-34cd-56ef-1234567890aZ", "not a key id"),
            ("alias/", "1-250"),
            ("alias/has space", "may contain only"),
            ("arn:aws:s3:us-east-1:111122223333:key/x", "expected kms"),
            (
                "arn:aws:kms:us-east-1:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "12-digit",
            ),
            (
                "arn:aws:kms:moon:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "Region",
            ),
            (
                "arn:aws:kms:us-east-1:111122223333:grant/x",
                "key/<id> or alias/<name>",
            ),
            ("arn:aws:kms:us-east-1", "form arn:"),
            (
                "arn:evil:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "partition",
            ),
        ] {
            let err = KeyRef::parse(bad).expect_err(bad);
            assert!(err.contains(expect), "{bad:?}: {err}");
        }
    }
}
