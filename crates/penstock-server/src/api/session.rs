//! The web UI's sign-in: `POST` a token to get it back as an `HttpOnly`, `SameSite=Strict`
//! cookie; `GET` says who is signed in; `DELETE` signs out.

use super::ApiState;
use crate::access::{authenticate, AuthMode, NamespaceGrant, Principal, TOKEN_COOKIE};
use crate::error::{ApiError, ApiResult, Code};
use crate::wire::parse_body;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// A sign-in request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// A token from `penstock tokens create`.
    pub token: String,
}

fn describe(state: &ApiState, p: &Principal) -> Value {
    json!({
        "name": p.name,
        "auth": state.security.auth.name(),
        "namespaces": match &p.grant {
            NamespaceGrant::All => Value::Null,
            NamespaceGrant::Only(set) => json!(set),
        },
    })
}

/// Who is signed in (401 when nobody is and the server needs it).
#[utoipa::path(get, path = "/apis/penstock/v1/session", operation_id = "get_session",
    responses((status = 200, description = "`{name, auth, namespaces}`"), (status = 401)))]
pub async fn get(State(s): State<ApiState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let p = authenticate(&s, &headers).await?;
    Ok(Json(describe(&s, &p)))
}

/// Signs in with a token: checks it and sets the cookie the UI's requests carry.
#[utoipa::path(post, path = "/apis/penstock/v1/session", operation_id = "create_session",
    request_body = SignIn,
    responses((status = 200, description = "`{name, auth, namespaces}` and a cookie"),
        (status = 400), (status = 401)))]
pub async fn create(State(s): State<ApiState>, body: Bytes) -> ApiResult<Response> {
    if s.security.auth != AuthMode::Tokens {
        return Err(ApiError::failed_precondition(format!(
            "this server does not use tokens (authentication: {})",
            s.security.auth.name()
        )));
    }
    let input: SignIn = parse_body("session", &body)?;
    let token = input.token.trim();
    let found =
        s.store.authenticate_token(token).await?.ok_or_else(|| {
            ApiError::new(Code::Unauthenticated, "the token is unknown or revoked")
        })?;
    let cookie_value = format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
    let cookie = HeaderValue::from_str(&cookie_value)
        .map_err(|_| ApiError::invalid("session.token: unexpected characters"))?;
    let p = Principal::from(found);
    let mut response = Json(describe(&s, &p)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Signs out: clears the cookie.
#[utoipa::path(delete, path = "/apis/penstock/v1/session", operation_id = "delete_session",
    responses((status = 200, description = "{}")))]
pub async fn delete() -> Response {
    let mut response = Json(json!({})).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("penstock_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}
