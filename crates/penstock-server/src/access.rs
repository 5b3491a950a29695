//! Who may do what: the request guard every route sits behind.
//!
//! In order, for every request:
//! 1. **Host check** (DNS rebinding): the `Host` header must be an IP literal, `localhost`, or a
//!    name given with `--allowed-host`. A page on `evil.example` whose name was rebound to
//!    127.0.0.1 sends `Host: evil.example` and is refused.
//! 2. **Cross-site check** for state-changing methods (POST, PUT, PATCH, DELETE): a browser's
//!    `Origin` must be this server's own origin (non-browser clients send none), and a body must
//!    be JSON or multipart. A cross-site `fetch(..., {mode: 'no-cors'})` can only send
//!    `text/plain`, form-encoded or multipart bodies, and always with its own `Origin`.
//! 3. **Authentication** ([`AuthMode`]): bearer tokens (`Authorization: Bearer …`, or the UI's
//!    `penstock_token` cookie), or a trusted user header set by an authenticating proxy. The
//!    result is a [`Principal`] that handlers use to scope what they read and write to the
//!    namespaces it is granted.
//!
//! Every answer carries `X-Content-Type-Options: nosniff`, `X-Frame-Options: SAMEORIGIN` and
//! `Referrer-Policy: same-origin`; the UI's pages also a restrictive Content-Security-Policy.

use crate::api::ApiState;
use crate::error::{ApiError, ApiResult, Code};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// The cookie the web UI keeps its token in (`HttpOnly`, `SameSite=Strict`).
pub const TOKEN_COOKIE: &str = "penstock_token";

/// How requests are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// Nobody is asked who they are; everything is in reach. Only for loopback servers (or
    /// with `--insecure-no-auth`).
    None,
    /// Bearer tokens made with `penstock tokens create`.
    Tokens,
    /// An authenticating proxy in front of the server sets the user's name in a header (as
    /// Kubeflow's `kubeflow-userid`); requests without it are refused. Only safe when the
    /// server can be reached through the proxy alone.
    Proxy {
        /// The header carrying the user name.
        user_header: String,
        /// A header carrying the comma-separated namespaces the user may use; without it the
        /// user may use every namespace.
        namespaces_header: Option<String>,
    },
}

impl AuthMode {
    /// Whether requests must say who they are.
    pub fn enabled(&self) -> bool {
        !matches!(self, AuthMode::None)
    }

    /// The mode's name as the CLI spells it.
    pub fn name(&self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Tokens => "tokens",
            AuthMode::Proxy { .. } => "proxy",
        }
    }
}

/// The guard's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityConfig {
    /// How requests are authenticated.
    pub auth: AuthMode,
    /// Host names (besides IP literals and `localhost`) that requests may address.
    pub allowed_hosts: BTreeSet<String>,
}

impl Default for SecurityConfig {
    /// No authentication, loopback names only: the default for a server on 127.0.0.1.
    fn default() -> Self {
        SecurityConfig {
            auth: AuthMode::None,
            allowed_hosts: BTreeSet::new(),
        }
    }
}

/// The namespaces a caller may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceGrant {
    /// Every namespace (single-user servers, tokens made without `--namespace`).
    All,
    /// Only these.
    Only(BTreeSet<String>),
}

/// Who is calling, as the guard established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// A name for logs: the token's name, the proxy's user, or `anonymous`.
    pub name: String,
    /// What it may reach.
    pub grant: NamespaceGrant,
}

impl Principal {
    /// The caller of a server without authentication.
    pub fn anonymous() -> Principal {
        Principal {
            name: "anonymous".into(),
            grant: NamespaceGrant::All,
        }
    }

    /// Whether this caller may see and change objects of `namespace`.
    pub fn may_use(&self, namespace: &str) -> bool {
        match &self.grant {
            NamespaceGrant::All => true,
            NamespaceGrant::Only(set) => set.contains(namespace),
        }
    }

    /// Whether this caller may read objects of `namespace` where the empty namespace holds
    /// shared objects (pipelines, as in KFP: a pipeline without a namespace is public).
    pub fn may_read_shared(&self, namespace: &str) -> bool {
        namespace.is_empty() || self.may_use(namespace)
    }

    /// `Ok` when the object of this namespace is in reach; otherwise the same NOT_FOUND as
    /// for an object that does not exist, so ids of other namespaces cannot be probed.
    pub fn check(&self, namespace: &str, not_found: impl FnOnce() -> String) -> ApiResult<()> {
        if self.may_use(namespace) {
            Ok(())
        } else {
            Err(ApiError::not_found(not_found()))
        }
    }

    /// The namespace a new object goes to, given the one the request names (empty: none).
    /// A caller granted exactly one namespace gets it by default.
    pub fn namespace_for_new(&self, what: &str, requested: &str) -> ApiResult<String> {
        match (&self.grant, requested) {
            (NamespaceGrant::All, r) => Ok(r.to_string()),
            (NamespaceGrant::Only(set), "") if set.len() == 1 => {
                Ok(set.iter().next().cloned().unwrap_or_default())
            }
            (NamespaceGrant::Only(set), "") => Err(ApiError::invalid(format!(
                "{what}.namespace is required: this token may use {}",
                list(set)
            ))),
            (NamespaceGrant::Only(_), r) if self.may_use(r) => Ok(r.to_string()),
            (NamespaceGrant::Only(set), r) => Err(ApiError::new(
                Code::PermissionDenied,
                format!(
                    "{what}.namespace '{r}' is not granted to '{}'; it may use {}",
                    self.name,
                    list(set)
                ),
            )),
        }
    }

    /// The namespaces a list may show, given the request's `namespace` parameter: `None` for
    /// no restriction. Naming a namespace that is not granted is refused (403).
    pub fn list_scope(&self, requested: Option<&str>) -> ApiResult<Option<Vec<String>>> {
        let requested = requested.filter(|r| !r.is_empty());
        match (&self.grant, requested) {
            (NamespaceGrant::All, None) => Ok(None),
            (_, Some(r)) if self.may_use(r) => Ok(Some(vec![r.to_string()])),
            (NamespaceGrant::Only(set), None) => Ok(Some(set.iter().cloned().collect())),
            (_, Some(r)) => Err(ApiError::new(
                Code::PermissionDenied,
                format!("namespace '{r}' is not granted to '{}'", self.name),
            )),
        }
    }
}

impl From<penstock_store::ApiToken> for Principal {
    /// The caller a token stands for: its name, and every namespace when it names none.
    fn from(t: penstock_store::ApiToken) -> Principal {
        Principal {
            name: t.name,
            grant: match t.namespaces {
                Some(set) => NamespaceGrant::Only(set),
                None => NamespaceGrant::All,
            },
        }
    }
}

fn list(set: &BTreeSet<String>) -> String {
    set.iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Principal, ApiError> {
        // The guard always runs first (it wraps every route); a request it did not see has
        // no principal and is refused rather than let through.
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::new(Code::Unauthenticated, "no principal on the request"))
    }
}

/// Paths anyone may request: the UI's shell (so it can show its sign-in form), the health
/// check `kfp.Client` calls before sending credentials, the API description and sign-in.
fn is_public(path: &str) -> bool {
    let path = path.strip_prefix("/pipeline").unwrap_or(path);
    if let Some(asset) = path.strip_prefix("/ui/") {
        // The page's own scripts and style sheet (and nothing else under /ui/).
        return crate::api::ui::asset(asset).is_some();
    }
    matches!(
        path,
        "" | "/"
            | "/index.html"
            | "/apis/v2beta1/healthz"
            | "/apis/v1beta1/healthz"
            | crate::api::OPENAPI_PATH
            | crate::api::SESSION_PATH
    )
}

/// Whether the `Host` header names a host this server answers for.
pub fn host_allowed(host: &str, allowed: &BTreeSet<String>) -> bool {
    let name = host_name(host);
    // No Host at all is not a browser (browsers always send one; rebinding needs a name).
    if name.is_empty() || name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok() {
        return true;
    }
    allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
}

/// `example.com:8888` → `example.com`; `[::1]:8888` → `::1`.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

fn unsafe_method(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses cross-site state changes: a foreign `Origin`, `Sec-Fetch-Site: cross-site`, or a
/// body that is neither JSON nor multipart.
fn cross_site_check(method: &Method, headers: &HeaderMap, host: &str) -> ApiResult<()> {
    if !unsafe_method(method) {
        return Ok(());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .unwrap_or("");
        if origin_host.is_empty() || !origin_host.eq_ignore_ascii_case(host) {
            return Err(ApiError::new(
                Code::PermissionDenied,
                format!(
                    "cross-origin request refused: Origin '{origin}' is not this server \
                     ({host}); state-changing requests must come from the server's own pages \
                     or from a non-browser client"
                ),
            ));
        }
    }
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return Err(ApiError::new(
            Code::PermissionDenied,
            "cross-site request refused (Sec-Fetch-Site: cross-site)",
        ));
    }
    let has_body = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim() != "0")
        .unwrap_or_else(|| headers.contains_key(header::TRANSFER_ENCODING));
    if has_body {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let json = essence == "application/json" || essence.ends_with("+json");
        if !json && essence != "multipart/form-data" {
            let shown = if content_type.is_empty() {
                "none".to_string()
            } else {
                format!("'{content_type}'")
            };
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
                format!(
                    "Content-Type {shown} is not accepted; send application/json \
                     (or multipart/form-data for uploads)"
                ),
            ));
        }
    }
    Ok(())
}

/// The token a request carries: `Authorization: Bearer …`, else the UI's cookie.
pub fn request_token(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.to_str().ok()?.trim();
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    for cookies in headers.get_all(header::COOKIE) {
        let Ok(cookies) = cookies.to_str() else {
            continue;
        };
        for pair in cookies.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                if k == TOKEN_COOKIE && !v.is_empty() {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

/// Establishes who is calling, or refuses with 401.
pub async fn authenticate(state: &ApiState, headers: &HeaderMap) -> ApiResult<Principal> {
    match &state.security.auth {
        AuthMode::None => Ok(Principal::anonymous()),
        AuthMode::Tokens => {
            let token = request_token(headers).ok_or_else(|| {
                ApiError::new(
                    Code::Unauthenticated,
                    "authentication required: send 'Authorization: Bearer <token>' \
                     (kfp.Client(host, existing_token=...)); tokens come from \
                     'penstock tokens create'",
                )
            })?;
            match state.store.authenticate_token(&token).await? {
                Some(t) => Ok(Principal::from(t)),
                None => Err(ApiError::new(
                    Code::Unauthenticated,
                    "the token is unknown or revoked",
                )),
            }
        }
        AuthMode::Proxy {
            user_header,
            namespaces_header,
        } => {
            let user = headers
                .get(user_header.as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    ApiError::new(
                        Code::Unauthenticated,
                        format!("authentication required: the '{user_header}' header set by the authenticating proxy is missing"),
                    )
                })?;
            let grant = match namespaces_header {
                None => NamespaceGrant::All,
                Some(h) => NamespaceGrant::Only(
                    headers
                        .get(h.as_str())
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(String::from)
                        .collect(),
                ),
            };
            Ok(Principal {
                name: user.to_string(),
                grant,
            })
        }
    }
}

/// The request guard (see the module documentation).
pub async fn guard(State(state): State<ApiState>, mut req: Request, next: Next) -> Response {
    let ui_page = matches!(
        req.uri()
            .path()
            .strip_prefix("/pipeline")
            .unwrap_or(req.uri().path()),
        "" | "/" | "/index.html"
    );
    let mut response = match check(&state, &mut req).await {
        Ok(()) => next.run(req).await,
        Err(e) => {
            let unauthenticated = e.code == Code::Unauthenticated;
            let mut r = e.into_response();
            if unauthenticated {
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"penstock\""),
                );
            }
            r
        }
    };
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("SAMEORIGIN"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if ui_page {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(UI_CSP),
        );
    }
    response
}

/// The UI's Content-Security-Policy: its own script and styles only (inline style attributes
/// are used for chart colours), artifacts framed from this origin only, never framed itself
/// by another site.
pub const UI_CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; frame-src 'self'; frame-ancestors 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'";

async fn check(state: &ApiState, req: &mut Request) -> ApiResult<()> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    if !host_allowed(&host, &state.security.allowed_hosts) {
        tracing::warn!(
            host,
            "refused a request for a host this server does not serve"
        );
        return Err(ApiError::new(
            Code::PermissionDenied,
            format!(
                "Host '{host}' is not served here; a server reached by name needs \
                 --allowed-host {}",
                host_name(&host)
            ),
        ));
    }
    cross_site_check(req.method(), req.headers(), &host)?;
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        if len > crate::api::MAX_BODY_BYTES {
            return Err(ApiError::new(
                Code::PayloadTooLarge,
                format!(
                    "the request body has {len} bytes, more than the limit of {} bytes",
                    crate::api::MAX_BODY_BYTES
                ),
            ));
        }
    }
    let principal = if is_public(req.uri().path()) {
        // Public handlers read no namespaced data (the session endpoints authenticate on
        // their own), so assets and the health check cost no token lookup.
        Principal {
            name: "anonymous".into(),
            grant: NamespaceGrant::Only(BTreeSet::new()),
        }
    } else {
        authenticate(state, req.headers()).await?
    };
    req.extensions_mut().insert(principal);
    Ok(())
}

/// The list condition that keeps a list inside the caller's namespaces (and the request's
/// `namespace` parameter, when it names one). With `shared`, objects of the empty namespace
/// (shared pipelines) stay visible to everyone.
pub fn namespace_scope(
    entity: penstock_store::list::Entity,
    principal: &Principal,
    params: &std::collections::HashMap<String, String>,
    shared: bool,
) -> ApiResult<Vec<penstock_store::list::Predicate>> {
    use penstock_store::list::{FieldValue, Operation, Predicate};
    let Some(mut namespaces) = principal.list_scope(params.get("namespace").map(String::as_str))?
    else {
        return Ok(vec![]);
    };
    if shared && !namespaces.iter().any(String::is_empty) {
        namespaces.push(String::new());
    }
    let field = entity
        .field("namespace")
        .ok_or_else(|| ApiError::internal("this list has no namespace field"))?;
    Ok(vec![Predicate {
        field,
        op: Operation::In,
        values: namespaces.into_iter().map(FieldValue::Text).collect(),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_by_name_need_to_be_allowed() {
        let allowed: BTreeSet<String> = ["pipelines.example.org".to_string()].into();
        assert!(host_allowed("localhost:8888", &allowed));
        assert!(host_allowed("127.0.0.1:8888", &allowed));
        assert!(host_allowed("[::1]:8888", &allowed));
        assert!(host_allowed("10.1.2.3", &allowed));
        assert!(host_allowed("Pipelines.Example.org:443", &allowed));
        assert!(!host_allowed("evil.example:8888", &allowed));
        assert!(!host_allowed("localhost.evil.example", &allowed));
        assert!(host_allowed("", &allowed));
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cross_site_writes_are_refused() {
        let host = "127.0.0.1:8888";
        let post = Method::POST;
        // A non-browser client: no Origin, JSON body.
        let ok = headers(&[
            ("content-length", "2"),
            ("content-type", "application/json"),
        ]);
        assert!(cross_site_check(&post, &ok, host).is_ok());
        // The server's own page.
        let same = headers(&[
            ("origin", "http://127.0.0.1:8888"),
            ("content-length", "2"),
            ("content-type", "application/json; charset=utf-8"),
        ]);
        assert!(cross_site_check(&post, &same, host).is_ok());
        // Another origin, even on the same machine.
        let other = headers(&[
            ("origin", "http://127.0.0.1:9999"),
            ("content-length", "2"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(
            cross_site_check(&post, &other, host).unwrap_err().code,
            Code::PermissionDenied
        );
        let null = headers(&[("origin", "null")]);
        assert!(cross_site_check(&Method::DELETE, &null, host).is_err());
        // no-cors bodies: text/plain or none.
        let plain = headers(&[("content-length", "20"), ("content-type", "text/plain")]);
        assert_eq!(
            cross_site_check(&post, &plain, host).unwrap_err().code,
            Code::UnsupportedMediaType
        );
        let untyped = headers(&[("content-length", "20")]);
        assert!(cross_site_check(&post, &untyped, host).is_err());
        // No body: nothing to type.
        let empty = headers(&[("content-length", "0")]);
        assert!(cross_site_check(&post, &empty, host).is_ok());
        // Reads are never refused here.
        assert!(cross_site_check(&Method::GET, &other, host).is_ok());
    }

    #[test]
    fn tokens_come_from_the_header_or_the_cookie() {
        let bearer = headers(&[("authorization", "Bearer pst_abc")]);
        assert_eq!(request_token(&bearer).as_deref(), Some("pst_abc"));
        let basic = headers(&[("authorization", "Basic xyz")]);
        assert_eq!(request_token(&basic), None);
        let cookie = headers(&[("cookie", "a=b; penstock_token=pst_def; c=d")]);
        assert_eq!(request_token(&cookie).as_deref(), Some("pst_def"));
        assert_eq!(request_token(&HeaderMap::new()), None);
    }

    #[test]
    fn grants_scope_lists_and_new_objects() {
        let p = Principal {
            name: "alice".into(),
            grant: NamespaceGrant::Only(["a".to_string()].into()),
        };
        assert_eq!(p.list_scope(None).unwrap(), Some(vec!["a".to_string()]));
        assert_eq!(p.list_scope(Some("")).unwrap(), Some(vec!["a".to_string()]));
        assert_eq!(
            p.list_scope(Some("b")).unwrap_err().code,
            Code::PermissionDenied
        );
        assert_eq!(p.namespace_for_new("experiment", "").unwrap(), "a");
        assert!(p.namespace_for_new("experiment", "b").is_err());
        assert_eq!(
            p.check("b", || "x".into()).unwrap_err().code,
            Code::NotFound
        );
        assert!(p.may_read_shared(""));
        let admin = Principal::anonymous();
        assert_eq!(admin.list_scope(Some("")).unwrap(), None);
        assert_eq!(admin.namespace_for_new("experiment", "").unwrap(), "");
    }
}
