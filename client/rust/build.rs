//! Generates the tonic bindings of `proto/switchyard/v1` with the protoc that the
//! `protoc-bin-vendored` crate ships, so a build needs nothing installed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not when it is compiled: a target dir shared by
    // several clones (CI caches one) reuses the compiled script across them.
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let proto = proto_root.join("switchyard/v1/switchyard.proto");
    println!("cargo:rerun-if-changed={}", proto.display());

    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let server = std::env::var_os("CARGO_FEATURE_SERVER").is_some();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(server)
        .file_descriptor_set_path(out_dir.join("switchyard_descriptor.bin"))
        .compile_with_config(config, &[proto], &[proto_root])?;
    Ok(())
}
