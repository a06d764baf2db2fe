//! Default values of the config's keys, named by serde's `default = "..."`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub fn listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}
pub fn db_path() -> PathBuf {
    PathBuf::from("switchyard.db")
}
pub fn trail_retention() -> u32 {
    10_000
}
pub fn provider_timeout() -> Duration {
    Duration::from_secs(60)
}
pub fn first_token_timeout() -> Duration {
    Duration::from_secs(60)
}
pub fn stream_idle_timeout() -> Duration {
    Duration::from_secs(30)
}
pub fn main_timeout() -> Duration {
    Duration::from_secs(120)
}
pub fn task_timeout() -> Duration {
    Duration::from_secs(60)
}
pub fn auto() -> String {
    "auto".into()
}
pub fn yes() -> bool {
    true
}
pub fn max_retries() -> u32 {
    2
}
pub fn backoff_base() -> Duration {
    Duration::from_millis(250)
}
pub fn backoff_max() -> Duration {
    Duration::from_secs(5)
}
pub fn rate_limit_max_wait() -> Duration {
    Duration::from_secs(10)
}
pub fn auth_cooldown() -> Duration {
    Duration::from_secs(300)
}
pub fn billing_cooldown() -> Duration {
    Duration::from_secs(3600)
}
pub fn rate_limit_cooldown() -> Duration {
    Duration::from_secs(60)
}
pub fn max_cooldown() -> Duration {
    Duration::from_secs(3600)
}
pub fn outlier_auth() -> u32 {
    3
}
pub fn outlier_rate_limit() -> u32 {
    3
}
pub fn outlier_5xx() -> u32 {
    5
}
pub fn base_ejection() -> Duration {
    Duration::from_secs(30)
}
pub fn min_attempt() -> Duration {
    Duration::from_millis(200)
}
pub fn max_request_bytes() -> usize {
    4 * 1024 * 1024
}
pub fn max_messages() -> usize {
    2048
}
pub fn max_tokens() -> u32 {
    1_000_000
}
pub fn max_response_bytes() -> usize {
    32 * 1024 * 1024
}
pub fn max_image_bytes() -> usize {
    20 * 1024 * 1024
}
pub fn max_connections() -> usize {
    1024
}
pub fn header_read_timeout() -> Duration {
    Duration::from_secs(10)
}
pub fn idle_timeout() -> Duration {
    Duration::from_secs(120)
}
pub fn body_read_timeout() -> Duration {
    Duration::from_secs(30)
}
pub fn keepalive_interval() -> Duration {
    Duration::from_secs(30)
}
pub fn keepalive_timeout() -> Duration {
    Duration::from_secs(20)
}
pub fn refresh_skew() -> Duration {
    Duration::from_secs(60)
}
pub fn refresh_timeout() -> Duration {
    Duration::from_secs(30)
}
pub fn shutdown_grace() -> Duration {
    Duration::from_secs(30)
}
