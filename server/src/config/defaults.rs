//! Default values of the config's keys, named by serde's `default = "..."`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub(crate) fn listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}
pub(crate) fn db_path() -> PathBuf {
    PathBuf::from("switchyard.db")
}
pub(crate) fn trail_retention() -> u32 {
    10_000
}
pub(crate) fn resync_interval() -> Duration {
    Duration::from_secs(30)
}
pub(crate) fn trail_buffer() -> u32 {
    crate::writer::DEFAULT_BUFFER as u32
}
pub(crate) fn provider_timeout() -> Duration {
    Duration::from_secs(60)
}
pub(crate) fn first_token_timeout() -> Duration {
    Duration::from_secs(60)
}
pub(crate) fn stream_idle_timeout() -> Duration {
    Duration::from_secs(30)
}
pub(crate) fn main_timeout() -> Duration {
    Duration::from_secs(120)
}
pub(crate) fn task_timeout() -> Duration {
    Duration::from_secs(60)
}
pub(crate) fn auto() -> String {
    "auto".into()
}
pub(crate) fn yes() -> bool {
    true
}
pub(crate) fn max_retries() -> u32 {
    2
}
pub(crate) fn backoff_base() -> Duration {
    Duration::from_millis(250)
}
pub(crate) fn backoff_max() -> Duration {
    Duration::from_secs(5)
}
pub(crate) fn rate_limit_max_wait() -> Duration {
    Duration::from_secs(10)
}
pub(crate) fn auth_cooldown() -> Duration {
    Duration::from_secs(300)
}
pub(crate) fn billing_cooldown() -> Duration {
    Duration::from_secs(3600)
}
pub(crate) fn rate_limit_cooldown() -> Duration {
    Duration::from_secs(60)
}
pub(crate) fn max_cooldown() -> Duration {
    Duration::from_secs(3600)
}
pub(crate) fn outlier_auth() -> u32 {
    3
}
pub(crate) fn outlier_rate_limit() -> u32 {
    3
}
pub(crate) fn outlier_5xx() -> u32 {
    5
}
pub(crate) fn base_ejection() -> Duration {
    Duration::from_secs(30)
}
pub(crate) fn min_attempt() -> Duration {
    Duration::from_millis(200)
}
pub(crate) fn max_request_bytes() -> usize {
    4 * 1024 * 1024
}
pub(crate) fn max_messages() -> usize {
    2048
}
pub(crate) fn max_tokens() -> u32 {
    1_000_000
}
pub(crate) fn max_response_bytes() -> usize {
    32 * 1024 * 1024
}
pub(crate) fn max_image_bytes() -> usize {
    20 * 1024 * 1024
}
pub(crate) fn max_connections() -> usize {
    1024
}
pub(crate) fn header_read_timeout() -> Duration {
    Duration::from_secs(10)
}
pub(crate) fn idle_timeout() -> Duration {
    Duration::from_secs(120)
}
pub(crate) fn body_read_timeout() -> Duration {
    Duration::from_secs(30)
}
pub(crate) fn keepalive_interval() -> Duration {
    Duration::from_secs(30)
}
pub(crate) fn keepalive_timeout() -> Duration {
    Duration::from_secs(20)
}
pub(crate) fn refresh_skew() -> Duration {
    Duration::from_secs(60)
}
pub(crate) fn refresh_timeout() -> Duration {
    Duration::from_secs(30)
}
pub(crate) fn shutdown_grace() -> Duration {
    Duration::from_secs(30)
}
