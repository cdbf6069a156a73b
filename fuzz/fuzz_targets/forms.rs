//! Query strings and form bodies: no panic; a form that parses has no repeated name, and every
//! value the query reader returns is one the form parser also sees.
#![no_main]

use labgate::http::{query_values, unique_form};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let form = unique_form(data);
    let text = String::from_utf8_lossy(data);
    for name in ["token", "next", "index_url", "grant_type", ""] {
        let values = query_values(&text, name);
        if let Ok(form) = &form
            && std::str::from_utf8(data).is_ok()
        {
            assert!(values.len() <= 1, "a unique form has one value per name");
            assert_eq!(values.first(), form.get(name));
        }
    }
});
