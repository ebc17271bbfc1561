//! Compiles the proto files with protox (a Rust protobuf compiler, so no `protoc` binary is
//! needed) and generates the tonic services and clients from them:
//!
//! * `proto/tiercache/v1/store.proto` — the store's services (`tiercache.v1`). Their encoded
//!   descriptor set is kept next to the generated code for the reflection service.
//! * `proto/tiercache/bench/v1/echo.proto` — the RPC benchmark's bare echo service
//!   (`tiercache.bench.v1`), generated code only: it is in no descriptor set a server
//!   reflects, so a production store never lists it.

use std::path::PathBuf;

use prost::Message;

/// The store's services: what `tiercache store` serves and reflects.
const STORE: &str = "tiercache/v1/store.proto";
/// The benchmark's echo service.
const BENCH_ECHO: &str = "tiercache/bench/v1/echo.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [STORE, BENCH_ECHO];
    for file in &files {
        println!("cargo:rerun-if-changed={}", proto_root.join(file).display());
    }
    let descriptors = protox::compile(files, [&proto_root])?;
    let mut served = descriptors.clone();
    served.file.retain(|file| file.name() == STORE);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("tiercache_descriptor.bin"),
        served.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
