//! The sender against a real HTTP receiver on loopback (wiremock).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tollgate_billing::{DeliveryResponse, OutboundMessage, WebhookSender};
use tollgate_webhooks::{HttpWebhookSender, ResolvingGuard, USER_AGENT, new_secret};
use wiremock::matchers::{header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BODY: &str = r#"{"type":"invoice.paid","data":{"id":"in_1","amount":1200}}"#;

fn sender(allow_private: bool, timeout: Duration) -> HttpWebhookSender {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    HttpWebhookSender::new(ResolvingGuard::new(allow_private), timeout).unwrap()
}

fn loopback_sender() -> HttpWebhookSender {
    sender(true, Duration::from_secs(5))
}

fn message(url: String, secret: &str) -> OutboundMessage {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    OutboundMessage {
        url,
        webhook_id: "msg_2a9bTxZr4kLq8vN3".to_owned(),
        timestamp: i64::try_from(since_epoch.as_secs()).unwrap(),
        body: BODY.to_owned(),
        secret: secret.to_owned(),
        previous_secret: None,
    }
}

async fn receiver_answering(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(status))
        .expect(1)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn posts_the_exact_body_signed_as_standard_webhooks_verify_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(header("content-type", "application/json"))
        .and(header("user-agent", USER_AGENT))
        .and(header("webhook-id", "msg_2a9bTxZr4kLq8vN3"))
        .and(header_exists("webhook-timestamp"))
        .and(header_exists("webhook-signature"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let secret = new_secret();
    let message = message(format!("{}/hook", server.uri()), &secret);

    let response = loopback_sender().deliver(message.clone()).await;

    assert_eq!(response, DeliveryResponse::Delivered);
    let requests = server.received_requests().await.unwrap();
    let request = &requests[0];
    assert_eq!(request.body, BODY.as_bytes());
    assert_eq!(
        request.headers["webhook-timestamp"],
        message.timestamp.to_string().as_str()
    );
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&request.body, &request.headers)
        .expect("the reference library verifies the delivery");
}

/// What the receiver got, checked by the reference library with `secret`.
fn verifies(secret: &str, request: &wiremock::Request) -> bool {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&request.body, &request.headers)
        .is_ok()
}

#[tokio::test]
async fn during_a_rotation_a_receiver_holding_either_secret_verifies_and_after_it_only_the_new() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .expect(2)
        .mount(&server)
        .await;
    let (new, old, unrelated) = (new_secret(), new_secret(), new_secret());
    let url = format!("{}/hook", server.uri());

    // In the grace period: two signatures, the new secret's first, separated by a space.
    let rotating = OutboundMessage {
        previous_secret: Some(old.clone()),
        ..message(url.clone(), &new)
    };
    assert_eq!(
        loopback_sender().deliver(rotating).await,
        DeliveryResponse::Delivered
    );
    // After it: the new secret's only.
    assert_eq!(
        loopback_sender().deliver(message(url, &new)).await,
        DeliveryResponse::Delivered
    );

    let requests = server.received_requests().await.unwrap();
    let (during, after) = (&requests[0], &requests[1]);
    let signature = during.headers["webhook-signature"].to_str().unwrap();
    let parts: Vec<&str> = signature.split(' ').collect();
    assert_eq!(parts.len(), 2, "{signature}");
    assert!(
        parts.iter().all(|part| part.starts_with("v1,")),
        "{signature}"
    );
    assert!(
        verifies(&new, during),
        "a receiver already on the new secret"
    );
    assert!(verifies(&old, during), "a receiver still on the old secret");
    assert!(!verifies(&unrelated, during));
    assert!(verifies(&new, after));
    assert!(!verifies(&old, after), "the old secret no longer verifies");
    assert!(
        !after.headers["webhook-signature"]
            .to_str()
            .unwrap()
            .contains(' ')
    );
}

#[tokio::test]
async fn a_host_name_is_connected_to_at_its_checked_address() {
    let server = receiver_answering(200).await;
    let port = server.address().port();
    let message = message(format!("http://localhost:{port}/hook"), &new_secret());
    assert_eq!(
        loopback_sender().deliver(message).await,
        DeliveryResponse::Delivered
    );
}

#[tokio::test]
async fn a_server_error_is_a_failure_with_its_status() {
    let server = receiver_answering(500).await;
    let response = loopback_sender()
        .deliver(message(format!("{}/hook", server.uri()), &new_secret()))
        .await;
    assert_eq!(
        response,
        DeliveryResponse::Failed {
            status: Some(500),
            retry_after: None,
            error: "HTTP 500".to_owned(),
        }
    );
}

#[tokio::test]
async fn gone_is_gone() {
    let server = receiver_answering(410).await;
    let response = loopback_sender()
        .deliver(message(format!("{}/hook", server.uri()), &new_secret()))
        .await;
    assert_eq!(response, DeliveryResponse::Gone);
}

#[tokio::test]
async fn too_many_requests_carries_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .expect(1)
        .mount(&server)
        .await;
    let response = loopback_sender()
        .deliver(message(format!("{}/hook", server.uri()), &new_secret()))
        .await;
    assert_eq!(
        response,
        DeliveryResponse::Failed {
            status: Some(429),
            retry_after: Some(Duration::from_secs(120)),
            error: "HTTP 429".to_owned(),
        }
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_fails() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/elsewhere", server.uri())),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let response = loopback_sender()
        .deliver(message(format!("{}/hook", server.uri()), &new_secret()))
        .await;
    assert!(
        matches!(
            response,
            DeliveryResponse::Failed {
                status: Some(302),
                retry_after: None,
                ..
            }
        ),
        "{response:?}"
    );
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_fails_without_a_status() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let started = Instant::now();
    let response = sender(true, Duration::from_millis(300))
        .deliver(message(format!("{}/hook", server.uri()), &new_secret()))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        response,
        DeliveryResponse::Failed {
            status: None,
            retry_after: None,
            error: "no answer within 300ms".to_owned(),
        }
    );
}

#[tokio::test]
async fn a_closed_port_fails_without_a_status() {
    // Bound and then dropped: nothing listens there any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let response = loopback_sender()
        .deliver(message(
            format!("http://127.0.0.1:{port}/hook"),
            &new_secret(),
        ))
        .await;
    match response {
        DeliveryResponse::Failed {
            status: None,
            retry_after: None,
            error,
        } => {
            assert!(error.starts_with("could not connect"), "{error}");
            assert!(
                !error.contains("127.0.0.1"),
                "the URL is not repeated: {error}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_private_receiver_is_refused_and_never_contacted() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let response = sender(false, Duration::from_secs(5))
        .deliver(message(format!("{}/hook", server.uri()), &new_secret()))
        .await;
    assert!(
        matches!(&response, DeliveryResponse::Refused(reason) if reason.contains("127.0.0.1")),
        "{response:?}"
    );
}

#[tokio::test]
async fn a_broken_secret_fails_before_anything_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let response = loopback_sender()
        .deliver(message(format!("{}/hook", server.uri()), "not-a-secret"))
        .await;
    assert!(
        matches!(&response, DeliveryResponse::Failed { status: None, error, .. } if error.contains("whsec_")),
        "{response:?}"
    );
}
