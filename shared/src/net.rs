//! Which network addresses labgate may send a caller-chosen request to. A session's
//! `analytics_url` is chosen by a tenant's robot; without this, it could make the event
//! dispatcher POST to addresses inside the network the dispatcher runs in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether `ip` is a public, routable unicast address: not loopback, private, shared (CGNAT),
/// link-local (where cloud metadata services live), unspecified, broadcast, multicast,
/// documentation, benchmarking or reserved; IPv4-mapped IPv6 is judged as its IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        || (first == 0x0064 && ip.segments()[1] == 0xff9b))
}

/// Whether a URL's host may be sent to: a public IP literal, or a name that is not `localhost`
/// (names are checked again, on their resolved addresses, by `PublicOnly`).
pub fn is_public_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => is_public(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_public(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name != "localhost" && !name.ends_with(".localhost")
        }
        None => false,
    }
}

/// A reqwest client builder whose TLS runs on rustls with *ring*, the crypto the SDK's client
/// uses too (`store::http_client`), so no function links a second crypto library, and trusts
/// Mozilla's roots, compiled in: the system store, which reqwest would otherwise read and parse
/// for every client built, was about 5 ms of the dispatcher's cold start per client. Every
/// reqwest client in labgate starts here: reqwest refuses to build one without a provider.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    // Err only when a provider is already installed: the first caller's, which is this one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der).ok());
    reqwest::Client::builder().tls_certs_only(roots)
}

/// A client for a third party's URLs (an LMS's keys, token and score endpoints, its
/// registration): these timeouts, no redirects, and public addresses only unless
/// `allow_private` (tests, local runs).
pub fn third_party_client(
    timeout: std::time::Duration,
    connect_timeout: std::time::Duration,
    allow_private: bool,
) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = http_client_builder()
        .timeout(timeout)
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none());
    if !allow_private {
        builder = builder.dns_resolver(std::sync::Arc::new(PublicOnly));
    }
    builder.build()
}

/// A DNS resolver for reqwest that answers only with public addresses, so that a name that
/// resolves (or is rebound) to a private address is refused at connection time.
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A short cause of a failed request, without the URL (it may carry credentials).
pub fn describe(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    }
}

/// A response's body, read a chunk at a time and refused once it passes `max` bytes (a hostile
/// server cannot stream more than that into memory); the error says why in a few words.
pub async fn read_limited(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, &'static str> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err("its answer is too large");
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > max {
            return Err("its answer is too large");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn clients_build_on_the_compiled_in_roots() {
        assert!(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() > 100);
        assert!(http_client_builder().build().is_ok());
        assert!(http_client_builder().build().is_ok(), "and a second time");
    }

    #[test]
    fn hosts() {
        let public = |u: &str| is_public_host(&url::Url::parse(u).unwrap());
        assert!(public("https://analytics.example/e"));
        assert!(!public("http://localhost:8080/"));
        assert!(!public("http://LOCALHOST./"));
        assert!(!public("http://a.localhost/"));
        assert!(!public(
            "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next"
        ));
        assert!(!public("http://[::1]/"));
        assert!(!public("http://169.254.169.254/latest/meta-data/"));
        assert!(!public("http://0x7f000001/"));
        assert!(!public("http://2130706433/"));
    }
}
