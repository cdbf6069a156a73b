//! The `Authorization` header (Token, Bearer, Basic) and the `Cookie` header: no panic, and
//! what is extracted is a trimmed, non-empty part of the input.
#![no_main]

use labgate::http::{auth, cookies};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    for scheme in ["token", "bearer", "basic"] {
        if let Some(credentials) = auth::credentials(header, scheme) {
            assert!(!credentials.is_empty());
            assert_eq!(credentials, credentials.trim());
            assert!(header.contains(credentials));
            let _ = auth::basic(credentials);
        }
    }
    let _ = auth::basic(header);
    if let Some(value) = cookies::session_cookie_in(header.split('\n'), cookies::HOST_SESSION_COOKIE) {
        assert!(header.contains(&value) || value.is_empty());
    }
});
