//! Health during a drain: after SIGTERM the gRPC listener stays open until the calls
//! in flight finish, so a probe reads `NOT_SERVING` (not a refused connection), and a
//! new call gets `UNAVAILABLE`.

use std::time::Duration;

use switchyard::fake::FakeReply;
use switchyard_client::pb;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::support::*;

#[tokio::test]
async fn a_probe_during_the_drain_reads_not_serving_and_new_calls_are_unavailable() {
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&fakes, dir.path(), "shutdown_grace: 20s").await;
    let server = Server::start(&config, &[]);
    fakes
        .main
        .push([FakeReply::ok("slow but complete").after(Duration::from_millis(1500))]);
    let mut client = server.client().await;
    let in_flight = tokio::spawn(async move {
        client
            .complete(pb::CompleteRequest {
                messages: vec![user("hello")],
                ..Default::default()
            })
            .await
    });
    while fakes.main.call_count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let probe = || async {
        // A new connection each time, as a kubelet or grpc-health-probe makes.
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
            .unwrap()
            .connect()
            .await
            .expect("the listener is open during the drain");
        let mut health = HealthClient::new(channel);
        health
            .check(HealthCheckRequest {
                service: "switchyard.v1.SwitchyardService".into(),
            })
            .await
            .map(|r| r.into_inner().status())
    };
    assert_eq!(probe().await.unwrap(), ServingStatus::Serving);
    server.sigterm();
    let mut status = ServingStatus::Serving;
    for _ in 0..50 {
        status = probe().await.expect("health answers during the drain");
        if status == ServingStatus::NotServing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, ServingStatus::NotServing);
    let refused = server
        .client()
        .await
        .complete(pb::CompleteRequest {
            messages: vec![user("too late")],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("shutting down"), "{refused:?}");
    assert_eq!(
        fakes.main.call_count(),
        1,
        "the refused call reached no provider"
    );

    let answer = in_flight
        .await
        .unwrap()
        .expect("the in-flight call completes");
    assert_eq!(answer.into_inner().content, "slow but complete");
    let (exit, _) = server.wait(Duration::from_secs(15)).await;
    assert_eq!(exit.code(), Some(0));
}
