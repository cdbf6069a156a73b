//! The LTI 1.3 claim names labgate reads (IMS LTI Core 1.3, section 5).

pub const MESSAGE_TYPE: &str = "https://purl.imsglobal.org/spec/lti/claim/message_type";
pub const VERSION: &str = "https://purl.imsglobal.org/spec/lti/claim/version";
pub const DEPLOYMENT_ID: &str = "https://purl.imsglobal.org/spec/lti/claim/deployment_id";
pub const TARGET_LINK_URI: &str = "https://purl.imsglobal.org/spec/lti/claim/target_link_uri";
pub const RESOURCE_LINK: &str = "https://purl.imsglobal.org/spec/lti/claim/resource_link";
pub const ROLES: &str = "https://purl.imsglobal.org/spec/lti/claim/roles";
pub const CONTEXT: &str = "https://purl.imsglobal.org/spec/lti/claim/context";
pub const CUSTOM: &str = "https://purl.imsglobal.org/spec/lti/claim/custom";
pub const LAUNCH_PRESENTATION: &str =
    "https://purl.imsglobal.org/spec/lti/claim/launch_presentation";

/// The one version spoken.
pub const LTI_VERSION: &str = "1.3.0";
/// A learner or instructor opening a link.
pub const RESOURCE_LINK_REQUEST: &str = "LtiResourceLinkRequest";
/// An instructor picking content to link (Deep Linking 2.0).
pub const DEEP_LINKING_REQUEST: &str = "LtiDeepLinkingRequest";

/// The custom parameter that names the content a link opens.
pub const CUSTOM_CONTENT_ID: &str = "content_id";
/// The custom parameter that names the workshop environment a link opens a session of.
pub const CUSTOM_ENVIRONMENT: &str = "environment";

/// Deep Linking 2.0.
pub const DEEP_LINKING_SETTINGS: &str =
    "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings";
pub const CONTENT_ITEMS: &str = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items";
pub const DEEP_LINKING_DATA: &str = "https://purl.imsglobal.org/spec/lti-dl/claim/data";
pub const DEEP_LINKING_RESPONSE: &str = "LtiDeepLinkingResponse";
/// The content item type of a link that launches a lab.
pub const LTI_RESOURCE_LINK: &str = "ltiResourceLink";

/// Assignment and Grade Services 2.0: the endpoint claim of a launch whose link is graded.
pub const AGS_ENDPOINT: &str = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint";
/// The scope that lets a tool post scores.
pub const AGS_SCOPE_SCORE: &str = "https://purl.imsglobal.org/spec/lti-ags/scope/score";
/// The media type of a score (AGS 2.0, section 3.4).
pub const SCORE_MEDIA_TYPE: &str = "application/vnd.ims.lis.v1.score+json";
