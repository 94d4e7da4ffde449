//! Which function an Invoke call addresses: its name, `name:qualifier`, partial or full ARN,
//! and the `Qualifier` query parameter, checked against the function the harness plays. Pure
//! parsing: refusals carry the status and AWS error type the route answers with.

use hyper::StatusCode;

use crate::options::RuntimeApiOptions;

/// Why a function name is refused: the AWS error to answer with.
pub(super) struct Refusal {
    pub(super) status: StatusCode,
    pub(super) error_type: &'static str,
    pub(super) message: String,
}

impl Refusal {
    fn new(status: StatusCode, error_type: &'static str, message: String) -> Self {
        Refusal {
            status,
            error_type,
            message,
        }
    }
}

/// Accepts the configured function by name, `name:qualifier`, partial ARN
/// (`account:function:name[:qualifier]`) or full ARN; returns the qualifier.
pub(super) fn resolve_function(
    options: &RuntimeApiOptions,
    name: &str,
    query_qualifier: Option<String>,
) -> Result<Option<String>, Refusal> {
    let (region, account, function, name_qualifier) = split_name(name);
    let found = function == options.function_name
        && region.is_none_or(|r| r == options.region)
        && account.is_none_or(|a| a == options.account_id);
    if !found {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!(
                "Function not found: arn:aws:lambda:{}:{}:function:{name}",
                options.region, options.account_id
            ),
        ));
    }
    let qualifier = match (name_qualifier, query_qualifier) {
        (Some(a), Some(b)) if a != b => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                "The derived qualifier from the function name does not match the specified qualifier."
                    .to_owned(),
            ));
        }
        (Some(a), _) => Some(a.to_owned()),
        (None, b) => b,
    };
    if let Some(q) = &qualifier {
        check_qualifier(q)?;
    }
    Ok(qualifier)
}

/// Region, account, function and qualifier named by a function name.
type NameParts<'a> = (Option<&'a str>, Option<&'a str>, &'a str, Option<&'a str>);

/// The parts of a name, partial ARN or full ARN; an empty function when the shape is none of
/// those.
fn split_name(name: &str) -> NameParts<'_> {
    let parts: Vec<&str> = name.split(':').collect();
    match parts.as_slice() {
        [
            "arn",
            _partition,
            "lambda",
            region,
            account,
            "function",
            function,
            rest @ ..,
        ] if rest.len() <= 1 => (
            Some(*region),
            Some(*account),
            *function,
            rest.first().copied(),
        ),
        [account, "function", function, rest @ ..] if rest.len() <= 1 => {
            (None, Some(*account), *function, rest.first().copied())
        }
        [function] => (None, None, *function, None),
        [function, qualifier] => (None, None, *function, Some(*qualifier)),
        _ => (None, None, "", None),
    }
}

/// Lambda's rule for a version or alias: 1-128 of `[a-zA-Z0-9$_-]`.
fn check_qualifier(q: &str) -> Result<(), Refusal> {
    let valid = !q.is_empty()
        && q.len() <= 128
        && q.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '$' | '_' | '-'));
    if !valid {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            format!(
                "1 validation error detected: Value '{q}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"
            ),
        ));
    }
    Ok(())
}

/// The percent-decoded value of `key` in a query string.
pub(super) fn query_param(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| percent_decode(v))
}

/// `%XX` decoding; `None` on a malformed escape or invalid UTF-8.
pub(super) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'%') => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            Some(b) => {
                out.push(*b);
                i += 1;
            }
            None => break,
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_arns_and_rejects_garbage() {
        assert_eq!(
            percent_decode("arn%3Aaws%3Alambda").as_deref(),
            Some("arn:aws:lambda")
        );
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("bad%4"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn function_names_arns_and_qualifiers_resolve() {
        let o = RuntimeApiOptions::default();
        let ok =
            |name: &str, q: Option<&str>| resolve_function(&o, name, q.map(str::to_owned)).ok();
        assert_eq!(ok("kms-material-guard", None), Some(None));
        assert_eq!(
            ok("kms-material-guard:live", None),
            Some(Some("live".to_owned()))
        );
        assert_eq!(
            ok(
                "arn:aws:lambda:us-east-1:111111111111:function:kms-material-guard",
                None
            ),
            Some(None)
        );
        assert_eq!(
            ok(
                "arn:aws:lambda:us-east-1:111111111111:function:kms-material-guard:$LATEST",
                None
            ),
            Some(Some("$LATEST".to_owned()))
        );
        assert_eq!(
            ok("111111111111:function:kms-material-guard", Some("7")),
            Some(Some("7".to_owned()))
        );
        assert_eq!(ok("other", None), None);
        assert_eq!(
            ok(
                "arn:aws:lambda:eu-west-1:111111111111:function:kms-material-guard",
                None
            ),
            None
        );
        assert_eq!(ok("kms-material-guard:a", Some("b")), None);
        assert_eq!(ok("kms-material-guard", Some("bad qualifier")), None);
    }
}
