//! The HTTP side: a hyper 1 (HTTP/1.1) server on one loopback port routing the Lambda Runtime
//! API 2018-06-01 and the Lambda Invoke API 2015-03-31 to the sandbox.

mod function_name;
mod invoke_routes;
mod runtime_routes;
mod wire;

use std::convert::Infallible;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::sandbox::Shared;
use wire::Resp;

/// Accept loop. Aborting this task drops the `JoinSet`, which aborts every connection.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    // For `/next`: whether the runtime is still there to read its invocation.
                    // Valid while the connection's task (which owns the stream) runs.
                    let fd = stream.as_raw_fd();
                    let shared = shared.clone();
                    connections.spawn(async move {
                        let service = service_fn(move |req| handle(shared.clone(), fd, req));
                        // Canonical header names ("Lambda-Runtime-Aws-Request-Id"), as Lambda's
                        // Go server writes them, for runtime clients that compare case-sensitively.
                        let _ = http1::Builder::new()
                            .title_case_headers(true)
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                // EMFILE and friends: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    fd: RawFd,
    req: Request<Incoming>,
) -> Result<Resp, Infallible> {
    let path = req.uri().path().to_owned();
    let response = if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") {
        runtime_routes::route(&shared, fd, rest, req).await
    } else if let Some(rest) = path.strip_prefix("/2015-03-31/functions/") {
        invoke_routes::route(&shared, rest, req).await
    } else {
        runtime_routes::runtime_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no route for {path}"),
        )
    };
    Ok(response)
}
