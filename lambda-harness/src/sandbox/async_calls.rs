//! `Event` (asynchronous) calls of the Invoke API: recorded in arrival order and, unless
//! `auto_deliver_async` is off, queued like any invocation, their result recorded when it ends.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde_json::Value;

use super::state::{Shared, await_invocation};
use crate::invocation::{AsyncInvocation, InvocationSource};

impl Shared {
    /// Records an `Event` call and, with `auto_deliver_async`, queues it.
    pub(crate) fn record_async(
        self: &Arc<Self>,
        function_name: String,
        qualifier: Option<String>,
        invoked_arn: String,
        trace_id: Option<String>,
        body: Bytes,
        payload: Value,
    ) -> String {
        if !self.options.auto_deliver_async {
            let request_id = uuid::Uuid::new_v4().to_string();
            self.push_async_record(&request_id, function_name, qualifier, payload);
            return request_id;
        }
        let (request_id, rx) = self.enqueue(
            body,
            self.options.function_timeout,
            invoked_arn,
            trace_id,
            InvocationSource::Event,
        );
        self.push_async_record(&request_id, function_name, qualifier, payload);
        let weak = Arc::downgrade(self);
        let id = request_id.clone();
        self.rt.spawn(async move {
            let invocation = await_invocation(rx, &id, InvocationSource::Event).await;
            if let Some(shared) = weak.upgrade() {
                let mut state = shared.lock();
                if let Some(record) = state
                    .async_invocations
                    .iter_mut()
                    .find(|a| a.request_id == id)
                {
                    record.result = Some(invocation);
                }
                drop(state);
                shared.bump();
            }
        });
        request_id
    }

    fn push_async_record(
        &self,
        request_id: &str,
        function_name: String,
        qualifier: Option<String>,
        payload: Value,
    ) {
        let mut state = self.lock();
        // Pushed before the completion task is spawned, so the task always finds the record.
        state.async_invocations.push(AsyncInvocation {
            request_id: request_id.to_owned(),
            function_name,
            qualifier,
            payload,
            received_at: Instant::now(),
            result: None,
        });
        drop(state);
        self.bump();
    }
}
