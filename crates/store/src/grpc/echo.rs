//! A bare echo service: the baseline the store's RPC benchmark compares `Get` against (same
//! transport, framing and payload, no work behind it). Not part of the store's API.

use tonic::{Request, Response, Status};

use super::proto::EchoMessage;
use super::proto::echo_server::Echo;

/// Answers every message with itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn echo(&self, request: Request<EchoMessage>) -> Result<Response<EchoMessage>, Status> {
        Ok(Response::new(request.into_inner()))
    }
}
