//! LTI platform storage (1EdTech LTI Client Side postMessages, `lti.put_data` / `lti.get_data`):
//! where a browser refuses labgate's state cookie inside the LMS's frame, the state goes through
//! the LMS's own window instead.
//!
//! A platform that offers storage names its storage frame in the login (`lti_storage_target`:
//! `_parent`, or a frame of the parent window). The login then answers a page (`put_page`) that
//! stores the state cookie's value in the platform under `labgate_state_<state>`, with the
//! platform's origin (its authorization endpoint's) as the target, and goes on to the platform's
//! authorization endpoint; the cookie is still set, for browsers that keep it. A launch that
//! comes without the cookie, from a platform that names its storage frame, answers a page
//! (`get_page`) that reads the value back from the platform (answers from another origin are
//! ignored) and posts the launch again with it as `lti_state`, which is checked exactly as the
//! cookie is: signed by the key ring for this state, registration and tenant, and not expired.

use crate::http::escape_html;

/// The key the state is stored under in the platform.
pub fn storage_key(state: &str) -> String {
    format!("labgate_state_{state}")
}

/// How long the page waits for the platform's answer before going on without it.
const WAIT_MS: u32 = 2000;

/// A storage frame's name as a platform gives it: `_parent` or a frame name (letters, digits,
/// `_` and `-`, at most 64); anything else is not used.
pub fn target(value: Option<&str>) -> Option<String> {
    value
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
        .map(str::to_string)
}

/// The origin (`scheme://host[:port]`) of a platform URL, the only one its answers may come from.
pub fn origin_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// A value as a JavaScript string literal that is safe inside `<script>`.
fn js(value: &str) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "\"\"".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// The storage frame in script: the parent window, or the parent's frame of that name.
fn frame_script(target: &str) -> String {
    format!(
        "var name = {target}; var frame = name === \"_parent\" ? window.parent : window.parent.frames[name];",
        target = js(target)
    )
}

fn page(title: &str, body: &str, script: &str) -> String {
    crate::http::html_page(title, &format!("{body}<script>{script}</script>"))
}

/// The login's page for a platform with storage: the state stored, then on to `next` (the
/// platform's authorization endpoint), whether or not the platform answers.
pub fn put_page(target: &str, origin: &str, state: &str, value: &str, next: &str) -> String {
    let script = format!(
        "(function () {{ {frame} var origin = {origin}; var next = {next}; var id = \"labgate-put-\" + Math.random().toString(36).slice(2); \
         var gone = false; function go() {{ if (!gone) {{ gone = true; window.location.replace(next); }} }} \
         window.addEventListener(\"message\", function (e) {{ if (e.origin === origin && e.data && e.data.message_id === id) go(); }}); \
         try {{ frame.postMessage({{subject: \"lti.put_data\", message_id: id, key: {key}, value: {value}}}, origin); }} catch (err) {{ go(); }} \
         setTimeout(go, {WAIT_MS}); }})();",
        frame = frame_script(target),
        origin = js(origin),
        next = js(next),
        key = js(&storage_key(state)),
        value = js(value),
    );
    let body = format!(
        "<p>Signing in to the lab…</p><noscript><p><a href=\"{next}\">Continue</a></p></noscript>",
        next = escape_html(next)
    );
    page("Signing in", &body, &script)
}

/// The launch's page when the cookie did not come back, for a platform with storage: the state
/// read from the platform and the launch posted again with it; without it, `refusal` is shown.
pub fn get_page(
    target: &str,
    origin: &str,
    (action, id_token, state): (&str, &str, &str),
    refusal: &str,
) -> String {
    let hidden = |name: &str, value: &str| {
        format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape_html(value)
        )
    };
    let body = format!(
        "<form id=\"relaunch\" method=\"post\" action=\"{action}\">{}{}{}{}</form>\
         <p id=\"waiting\">Opening the lab…</p><p id=\"refused\" hidden>{}</p>",
        hidden("id_token", id_token),
        hidden("state", state),
        hidden("lti_storage_target", target),
        "<input type=\"hidden\" name=\"lti_state\" value=\"\">",
        escape_html(refusal),
        action = escape_html(action),
    );
    let script = format!(
        "(function () {{ {frame} var origin = {origin}; var key = {key}; var id = \"labgate-get-\" + Math.random().toString(36).slice(2); \
         var done = false; function refuse() {{ if (!done) {{ done = true; document.getElementById(\"waiting\").hidden = true; document.getElementById(\"refused\").hidden = false; }} }} \
         window.addEventListener(\"message\", function (e) {{ \
           if (done || e.origin !== origin || !e.data || e.data.message_id !== id) return; \
           if (e.data.subject !== \"lti.get_data.response\" || typeof e.data.value !== \"string\" || e.data.error) {{ refuse(); return; }} \
           done = true; var form = document.getElementById(\"relaunch\"); form.elements.lti_state.value = e.data.value; form.submit(); }}); \
         try {{ frame.postMessage({{subject: \"lti.get_data\", message_id: id, key: key}}, origin); }} catch (err) {{ refuse(); }} \
         setTimeout(refuse, {WAIT_MS}); }})();",
        frame = frame_script(target),
        origin = js(origin),
        key = js(&storage_key(state)),
    );
    page("Opening the lab", &body, &script)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_values_cannot_end_the_script() {
        let page = put_page(
            "_parent",
            "https://lms.example.edu",
            "s",
            "v",
            "https://lms.example.edu/auth?x=</script><script>alert(1)</script>",
        );
        assert_eq!(page.matches("</script>").count(), 1, "{page}");
    }

    #[test]
    fn only_plain_frame_names_and_real_origins_are_used() {
        assert_eq!(target(Some("_parent")).as_deref(), Some("_parent"));
        assert_eq!(
            target(Some("post_message_forwarding")).as_deref(),
            Some("post_message_forwarding")
        );
        for bad in ["", "a b", "x\"y", &"a".repeat(65)] {
            assert_eq!(target(Some(bad)), None, "{bad}");
        }
        assert_eq!(
            origin_of("https://lms.example.edu:8443/auth?x=1").as_deref(),
            Some("https://lms.example.edu:8443")
        );
        assert_eq!(origin_of("not a url"), None);
    }
}
