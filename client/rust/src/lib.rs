//! Rust bindings of the Switchyard API (`switchyard.v1`), generated from `proto/`.
//!
//! `pb` holds the messages and the tonic client; with the `server` feature it also
//! holds the server stubs and the encoded file descriptor set used for reflection.

/// Generated messages and services of `switchyard.v1`.
#[allow(missing_docs, clippy::all, missing_debug_implementations)]
pub mod pb {
    tonic::include_proto!("switchyard.v1");

    /// Encoded `FileDescriptorSet` of the API, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("switchyard_descriptor");
}

pub use pb::switchyard_service_client::SwitchyardServiceClient;

/// Human-readable rendering of attempt trails.
pub mod trail {
    use crate::pb;

    /// One line per step: `#i provider/model [credential] class status -> action: reason`.
    pub fn format(attempts: &[pb::Attempt]) -> String {
        let mut out = String::new();
        for (i, a) in attempts.iter().enumerate() {
            let class = pb::ErrorClass::try_from(a.error_class)
                .map(|c| {
                    c.as_str_name()
                        .trim_start_matches("ERROR_CLASS_")
                        .to_ascii_lowercase()
                })
                .unwrap_or_else(|_| a.error_class.to_string());
            let action = pb::Action::try_from(a.action)
                .map(|c| {
                    c.as_str_name()
                        .trim_start_matches("ACTION_")
                        .to_ascii_lowercase()
                })
                .unwrap_or_else(|_| a.action.to_string());
            let target = if a.provider.is_empty() {
                "-".to_owned()
            } else {
                format!("{}/{}", a.provider, a.model)
            };
            let credential = if a.credential_id.is_empty() {
                String::new()
            } else {
                format!(" [{}]", a.credential_id)
            };
            let status = if a.http_status == 0 {
                String::new()
            } else {
                format!(" {}", a.http_status)
            };
            let class = if class == "none" {
                String::new()
            } else {
                format!(" {class}")
            };
            out.push_str(&format!(
                "  #{i} {target}{credential}{class}{status} -> {action}: {}\n",
                a.reason
            ));
        }
        out
    }
}
