//! Who calls: the `x-user` and `x-role` headers, as an authenticating proxy in front of the
//! service would set them (`x-role: admin` for admins). The admin page, which a browser opens
//! without such a proxy, signs in through a form that sets the same two values as cookies
//! (`sd_user`, `sd_role`). A demonstration, not authentication: put the service behind a
//! proxy that sets (and strips) these headers.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::error::ApiError;

/// The header naming the caller.
pub const USER_HEADER: &str = "x-user";
/// The header naming the caller's role (`admin`).
pub const ROLE_HEADER: &str = "x-role";
/// The cookie the admin page's sign-in sets for the user.
pub const USER_COOKIE: &str = "sd_user";
/// The cookie the admin page's sign-in sets for the role.
pub const ROLE_COOKIE: &str = "sd_role";

/// The caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Who (`anonymous` when unnamed).
    pub user: String,
    /// Whether the role is `admin`.
    pub admin: bool,
}

impl Identity {
    /// [`ApiError::Forbidden`] unless the caller is an admin.
    pub fn require_admin(&self, what: &str) -> Result<(), ApiError> {
        if self.admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "{what} needs the admin role (x-role: admin)"
            )))
        }
    }

    /// The identity the headers (or, failing them, the cookies) give.
    pub fn from_headers(headers: &HeaderMap) -> Result<Identity, ApiError> {
        let header = |name: &str| -> Result<Option<String>, ApiError> {
            match headers.get(name) {
                None => Ok(None),
                Some(value) => value
                    .to_str()
                    .map(|v| Some(v.trim().to_owned()))
                    .map_err(|_| ApiError::Invalid(format!("header {name} is not visible ASCII"))),
            }
        };
        let cookies = cookies(headers);
        let user = match header(USER_HEADER)? {
            Some(user) => Some(user),
            None => cookie(&cookies, USER_COOKIE),
        };
        let role = match header(ROLE_HEADER)? {
            Some(role) => Some(role),
            None => cookie(&cookies, ROLE_COOKIE),
        };
        let user = user
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "anonymous".into());
        crate::dto::check_text("x-user", &user)?;
        Ok(Identity {
            user,
            admin: role.as_deref() == Some("admin"),
        })
    }
}

fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

fn cookie(cookies: &[(String, String)], name: &str) -> Option<String> {
    cookies
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Identity::from_headers(&parts.headers)
    }
}
