//! Compiles `proto/remote.proto` with a pure-Rust protobuf parser (protox), so building
//! the crate needs no `protoc` binary.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const PROTO: &str = "proto/remote.proto";
    println!("cargo:rerun-if-changed={PROTO}");
    let descriptors = protox::compile([PROTO], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
