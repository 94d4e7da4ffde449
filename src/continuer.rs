//! The continuation port: starts a fresh asynchronous invocation of the function (Lambda
//! `Invoke`, `InvocationType=Event`) with a continuation payload ([`crate::event::continuation`]).

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

/// Starts a new invocation of the function (a real port: Lambda's Invoke API).
pub trait Continuer: Send + Sync {
    /// Invokes asynchronously with `payload`; returns the Lambda request id when known.
    fn start<'a>(
        &'a self,
        payload: &'a Value,
    ) -> Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send + 'a>>;
}

/// Invokes a Lambda function (the function itself) with `InvocationType=Event`.
pub struct LambdaContinuer {
    client: aws_sdk_lambda::Client,
    function: String,
}

impl LambdaContinuer {
    pub fn new(client: aws_sdk_lambda::Client, function: impl Into<String>) -> Self {
        LambdaContinuer {
            client,
            function: function.into(),
        }
    }
}

impl Continuer for LambdaContinuer {
    fn start<'a>(
        &'a self,
        payload: &'a Value,
    ) -> Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send + 'a>> {
        Box::pin(async move {
            use aws_sdk_lambda::operation::RequestId;
            let bytes = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
            let out = self
                .client
                .invoke()
                .function_name(&self.function)
                .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
                .payload(aws_sdk_lambda::primitives::Blob::new(bytes))
                .send()
                .await
                .map_err(|e| aws_sdk_lambda::error::DisplayErrorContext(&e).to_string())?;
            if out.status_code() != 202 {
                return Err(format!("Invoke answered status {}", out.status_code()));
            }
            Ok(out.request_id().map(str::to_string))
        })
    }
}
