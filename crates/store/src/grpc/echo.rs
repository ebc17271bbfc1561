//! A bare echo service: the baseline the store's RPC benchmark compares `Get` against (same
//! transport, framing and payload, no work behind it). Not part of the store's API: its
//! proto (`tiercache.bench.v1`) is outside the descriptor set [`serve`](super::serve)
//! reflects, and only the benchmark serves it, on a server of its own.

use tonic::{Request, Response, Status};

use proto::EchoMessage;
use proto::echo_server::Echo;

/// Generated protobuf messages and tonic stubs of `proto/tiercache/bench/v1/echo.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("tiercache.bench.v1");
}

/// Answers every message with itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn echo(&self, request: Request<EchoMessage>) -> Result<Response<EchoMessage>, Status> {
        Ok(Response::new(request.into_inner()))
    }
}
