//! The gRPC front door: `switchyard.v1.SwitchyardService`.
//!
//! Thin handlers: validate and convert the request into domain values (field
//! violations become `InvalidArgument` with `BadRequest`), call one service
//! function, convert the result. The four chat RPCs share one body each for whole
//! and streamed answers ([`service`]); proto <-> domain lives in [`convert`] and
//! [`simulation`] and [`trail`], failures -> statuses in [`status`], the streamed
//! events in [`stream`]. Depends on `service` and `domain`, never on the executor or the store.

use std::sync::Arc;
use std::time::Duration;

use tonic::metadata::MetadataMap;

use crate::service::Switchyard;

mod convert;
mod service;
mod simulation;
mod status;
mod stream;
mod trail;

pub use status::{ERROR_DOMAIN, reason_name};
pub(crate) use status::{error_status, invalid};
pub use stream::EventStream;

/// The tonic service over the shared [`Switchyard`].
#[derive(Debug, Clone)]
pub struct GrpcService {
    service: Arc<Switchyard>,
}

impl GrpcService {
    /// Wraps the service.
    pub fn new(service: Arc<Switchyard>) -> Self {
        Self { service }
    }
}

/// The caller's deadline from the `grpc-timeout` header (`<digits><H|M|S|m|u|n>`).
fn grpc_timeout(metadata: &MetadataMap) -> Option<Duration> {
    let raw = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = raw.split_at(raw.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_every_unit() {
        let mut m = MetadataMap::new();
        for (raw, want) in [
            ("2S", Duration::from_secs(2)),
            ("150m", Duration::from_millis(150)),
            ("1H", Duration::from_secs(3600)),
            ("7u", Duration::from_micros(7)),
        ] {
            m.insert("grpc-timeout", raw.parse().unwrap());
            assert_eq!(grpc_timeout(&m), Some(want), "{raw}");
        }
        m.insert("grpc-timeout", "x".parse().unwrap());
        assert_eq!(grpc_timeout(&m), None);
    }
}
