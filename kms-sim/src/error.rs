//! The error type shared by the wire protocol and the in-process [`Store`](crate::Store) API.

use std::fmt;

/// An error exactly as KMS would return it: the `__type` code, the message and the HTTP status.
///
/// The in-process API ([`Store`](crate::Store)) returns the same errors as the wire protocol, so a
/// test can assert on `err.code` (`"KMSInvalidStateException"`, ...) either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsError {
    /// The KMS error code (`__type` on the wire), e.g. `NotFoundException`.
    pub code: String,
    /// The error message; KMS sends some errors with an empty message.
    pub message: String,
    /// HTTP status: 400 for client errors, 500 for server errors.
    pub status: u16,
}

/// The error type of the [`Store`](crate::Store) API: the KMS error the same call would get.
pub type SimError = KmsError;

impl KmsError {
    /// A client (HTTP 400) error.
    pub fn client(code: &str, message: impl Into<String>) -> Self {
        KmsError {
            code: code.to_string(),
            message: message.into(),
            status: 400,
        }
    }

    /// A server (HTTP 500) error.
    pub fn server(code: &str, message: impl Into<String>) -> Self {
        KmsError {
            code: code.to_string(),
            message: message.into(),
            status: 500,
        }
    }

    /// `ValidationException` with the given message.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::client("ValidationException", message)
    }

    /// `ValidationException` in the Coral style KMS uses for model constraints.
    pub(crate) fn constraint(value: &str, field: &str, constraint: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
        ))
    }

    /// `ValidationException` for a missing required member.
    pub(crate) fn missing(field: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ))
    }

    /// `NotFoundException` for a key ARN that does not exist (the message KMS uses).
    pub(crate) fn key_not_found(arn: &str) -> Self {
        Self::client("NotFoundException", format!("Key '{arn}' does not exist"))
    }

    /// `NotFoundException` for an alias that does not exist.
    pub(crate) fn alias_not_found(alias_arn: &str) -> Self {
        Self::client(
            "NotFoundException",
            format!("Alias {alias_arn} is not found."),
        )
    }

    /// `NotFoundException` for a key identifier that is not a key ID, ARN or alias.
    pub(crate) fn invalid_key_id(raw: &str) -> Self {
        Self::client("NotFoundException", format!("Invalid keyId '{raw}'"))
    }

    /// `UnsupportedOperationException` for a key of the wrong origin.
    pub(crate) fn wrong_origin(arn: &str, origin: &str) -> Self {
        Self::client(
            "UnsupportedOperationException",
            format!("{arn} origin is {origin} which is not valid for this operation."),
        )
    }

    /// The DryRunOperationException (HTTP 412) of a request that would have succeeded.
    pub(crate) fn dry_run() -> Self {
        KmsError {
            code: "DryRunOperationException".to_string(),
            message: "The request would have succeeded, but the DryRun option is set.".to_string(),
            status: 412,
        }
    }

    /// The ThrottlingException KMS returns when a request quota is exceeded.
    pub fn throttling() -> Self {
        Self::client(
            "ThrottlingException",
            "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
        )
    }

    /// Whether this is a server-side (5xx) error.
    pub fn is_server_error(&self) -> bool {
        self.status >= 500
    }
}

impl fmt::Display for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

impl std::error::Error for KmsError {}
