//! AWS Secrets Manager for the master-key tests: moto's server (`LABGATE_MOTO_SERVER`, which
//! `scripts/test` installs), one per test, on a free port, stopped when dropped.

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use std::process::Stdio;
use std::time::Duration;

pub struct SecretsManager {
    _server: tokio::process::Child,
    pub url: String,
}

impl SecretsManager {
    pub async fn start() -> Self {
        let server = std::env::var("LABGATE_MOTO_SERVER").expect(
            "LABGATE_MOTO_SERVER names moto's server, the Secrets Manager emulator \
             (scripts/test installs it into .local/moto)",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start moto_server");
        let address = format!("127.0.0.1:{port}");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(&address).await.is_ok() {
                return SecretsManager {
                    _server: child,
                    url: format!("http://{address}"),
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not listen on {address} within 20 s");
    }

    /// The SDK configuration a function would load, pointed at this emulator.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(
                aws_sdk_secretsmanager::config::SharedCredentialsProvider::new(Credentials::new(
                    "local", "local", None, None, "test",
                )),
            )
            .endpoint_url(&self.url)
            .http_client(labgate::store::http_client())
            .build()
    }

    fn client(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk_config())
    }

    /// Creates a secret (as `aws secretsmanager create-secret` would); its ARN.
    pub async fn create(&self, name: &str, value: &str) -> String {
        let out = self
            .client()
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("create the secret");
        out.arn().unwrap().to_string()
    }

    /// Stores a new value (`aws secretsmanager put-secret-value`).
    pub async fn put(&self, id: &str, value: &str) {
        self.client()
            .put_secret_value()
            .secret_id(id)
            .secret_string(value)
            .send()
            .await
            .expect("put the secret's value");
    }
}
