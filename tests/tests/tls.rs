//! The SDK's production HTTPS client never runs locally: DynamoDB Local is plain HTTP. Here it
//! does, through a TLS endpoint in front of DynamoDB Local, built by `store::http_client_trusting`
//! exactly as `store::http_client` builds it but for the roots (a test root in place of the
//! compiled-in Amazon roots); the compiled-in roots are held to their published fingerprints.

use labgate::store::{Store, schema};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, pem::PemObject};
use std::sync::Arc;

/// A TLS endpoint on loopback that forwards every connection to DynamoDB Local; the PEM of the
/// root that issued its certificate (for 127.0.0.1 and localhost) and its URL.
async fn tls_front() -> (String, String) {
    let root_key = KeyPair::generate().unwrap();
    let mut root_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root_params
        .distinguished_name
        .push(DnType::CommonName, "labgate test root");
    let root = CertifiedIssuer::self_signed(root_params, root_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &root)
        .unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = url::Url::parse(&labgate_tests::endpoint()).unwrap();
    let upstream = format!(
        "{}:{}",
        upstream.host_str().unwrap(),
        upstream.port_or_known_default().unwrap()
    );
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut plain = tokio::net::TcpStream::connect(&upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (root.pem(), format!("https://127.0.0.1:{port}"))
}

fn store_over(
    http_client: aws_smithy_runtime_api::client::http::SharedHttpClient,
    url: &str,
) -> Store {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    let config = labgate::store::with_timeouts(aws_sdk_dynamodb::Config::builder())
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "tls-test"))
        .endpoint_url(url)
        .http_client(http_client)
        .build();
    Store::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        format!("t-{}", uuid::Uuid::new_v4().simple()),
    )
}

#[tokio::test]
async fn the_production_https_client_reaches_dynamodb_over_tls() {
    let (root_pem, url) = tls_front().await;
    let store = store_over(
        labgate::store::http_client_trusting(root_pem.as_bytes()),
        &url,
    );
    schema::create_table(&store)
        .await
        .expect("CreateTable over TLS");
    let key = labgate::store::keys::client("tls");
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(key.item()))
        .send()
        .await
        .expect("PutItem over TLS");
    let read = labgate::store::get(&store, &key, "GetItem")
        .await
        .expect("GetItem over TLS");
    assert!(read.is_some());
}

#[tokio::test]
async fn the_production_https_client_trusts_no_other_root() {
    let (_, url) = tls_front().await;
    // The client as deployed: only the Amazon roots, so the test root's certificate is refused.
    let store = store_over(labgate::store::http_client(), &url);
    let err = labgate::store::get(&store, &labgate::store::keys::client("x"), "GetItem")
        .await
        .expect_err("a certificate no Amazon root issued is refused");
    assert!(
        matches!(err, labgate::store::StoreError::Unavailable { .. }),
        "{err:?}"
    );
    let detail = format!("{err:?}");
    assert!(
        detail.contains("UnknownIssuer") || detail.contains("certificate"),
        "{detail}"
    );
}

/// SHA-256 of each root as Amazon Trust Services publishes it
/// (https://www.amazontrust.com/repository/): Amazon Root CA 1 to 4, Starfield Services Root
/// Certificate Authority - G2.
const PUBLISHED: [&str; 5] = [
    "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
    "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4",
    "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
    "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092",
    "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5",
];

#[test]
fn the_compiled_in_roots_are_the_published_amazon_roots() {
    use sha2::Digest;
    let fingerprints: Vec<String> = CertificateDer::pem_slice_iter(labgate::store::AWS_ROOTS)
        .map(|der| hex::encode(sha2::Sha256::digest(der.unwrap().as_ref())))
        .collect();
    assert_eq!(fingerprints, PUBLISHED);
}
