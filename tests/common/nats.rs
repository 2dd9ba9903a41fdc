//! The NATS server with JetStream the click-export tests publish to (`BLINK_TEST_NATS_URL`), and a stream of
//! their own for each test.

use async_nats::jetstream::{self, Context, message::StreamMessage};
use blink::config::{CredentialsUrl, ExportConfig};

use super::in_ci;

/// The NATS server tests use.
pub fn nats_url() -> String {
    std::env::var("BLINK_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A subject prefix and a stream name no other test uses; the stream (which Blink creates) is deleted on drop,
/// even when the test failed.
pub struct TestStream {
    /// Events are published on `<prefix>.<link id>`.
    pub prefix: String,
    /// The stream's name.
    pub name: String,
    jetstream: Context,
}

impl TestStream {
    /// Names for a new stream, or `None` (with a notice) when NATS is not running outside CI.
    pub async fn new() -> Option<Self> {
        let url = nats_url();
        let client = match async_nats::connect(&url).await {
            Ok(client) => client,
            Err(error) if !in_ci() => {
                eprintln!("SKIPPED: NATS at {url} is not reachable ({error}); run ../shared/services-up");
                return None;
            }
            Err(error) => panic!("NATS at {url} is not reachable under CI=true: {error}"),
        };
        let unique = uuid::Uuid::new_v4().simple().to_string();
        Some(Self {
            prefix: format!("blinktest.{unique}"),
            name: format!("BLINKTEST_{unique}"),
            jetstream: jetstream::new(client),
        })
    }

    /// `[analytics.export]` publishing to this stream (which Blink creates).
    pub fn export_config(&self) -> ExportConfig {
        ExportConfig {
            nats_url: Some(CredentialsUrl::from(nats_url().as_str())),
            subject_prefix: self.prefix.clone(),
            stream: self.name.clone(),
            ..ExportConfig::default()
        }
    }

    /// How many messages the stream holds (0 while it does not exist).
    pub async fn len(&self) -> u64 {
        match self.jetstream.get_stream(&self.name).await {
            Ok(mut stream) => stream.info().await.map_or(0, |info| info.state.messages),
            Err(_) => 0,
        }
    }

    /// Every message the stream holds, in order.
    pub async fn messages(&self) -> Vec<StreamMessage> {
        let stream = self.jetstream.get_stream(&self.name).await.expect("the stream exists");
        let mut messages = Vec::new();
        for sequence in 1..=self.len().await {
            messages.push(stream.get_raw_message(sequence).await.expect("stored message"));
        }
        messages
    }
}

impl Drop for TestStream {
    /// `Drop` cannot wait on the test's runtime (whose connection it may block): the deletion runs on a
    /// connection and a runtime of its own, on a thread of its own.
    fn drop(&mut self) {
        let name = self.name.clone();
        let deleting = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                if let Ok(client) = async_nats::connect(nats_url()).await {
                    let _ = jetstream::new(client).delete_stream(&name).await;
                }
            });
        });
        let _ = deleting.join();
    }
}
