//! The device authorization grant (RFC 8628): a device without a browser (a TV, a CLI on a
//! server) shows a code, the user approves it elsewhere, the device polls (feature `oidc`).

use std::time::{Duration, SystemTime};

use http::Uri;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::provider::{SignIn, oauth_error};
use crate::{Error, Provider, form};

/// The grant type of the token request (RFC 8628 §3.4).
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The polling interval when the server gives none (§3.2).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// How much `slow_down` adds (§3.5).
const SLOW_DOWN: Duration = Duration::from_secs(5);
/// The longest interval believed, however the server asks.
const MAX_INTERVAL: Duration = Duration::from_secs(120);

/// A device authorization in progress: what to show the user, and the device code
/// (kept secret: `Debug` omits it) to poll with.
#[non_exhaustive]
pub struct DeviceAuthorization {
    device_code: Zeroizing<String>,
    /// The code the user types at [`verification_uri`](Self::verification_uri).
    pub user_code: String,
    /// Where the user goes.
    pub verification_uri: String,
    /// The same with the code filled in, for a QR code or a link, if the server has it.
    pub verification_uri_complete: Option<String>,
    /// When the codes expire.
    pub expires_at: SystemTime,
    /// How long to wait between two polls (grows by 5 s with each `slow_down`).
    pub interval: Duration,
}

impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_at", &self.expires_at)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// One poll's answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum DevicePoll {
    /// The user has not approved yet (`authorization_pending`): poll again after the
    /// interval.
    Pending,
    /// Polled too fast (`slow_down`): the interval has grown by 5 s.
    SlowDown,
    /// Approved: the tokens (the ID token, if any, validated).
    Done(Box<SignIn>),
}

impl Provider {
    /// Starts a device authorization (RFC 8628 §3.1) for `scope` (space-separated; empty
    /// for none). The verification URIs must be URLs the client's policy allows.
    pub async fn device_authorization(&self, scope: &str) -> Result<DeviceAuthorization, Error> {
        let endpoint =
            self.metadata()
                .device_authorization_endpoint()
                .ok_or(Error::InvalidUrl {
                    reason: "the provider's metadata has no device_authorization_endpoint",
                })?;
        let mut body = String::new();
        if !scope.is_empty() {
            form::append(&mut body, "scope", scope);
        }
        let response = self.token_client().post_form(endpoint, body, false).await?;
        if !(200..300).contains(&response.status.as_u16()) {
            return Err(oauth_error(response.status.as_u16(), &response.body));
        }
        let malformed = |reason| Error::MalformedTokenResponse { reason };
        let Ok(Value::Object(json)) = serde_json::from_slice::<Value>(&response.body) else {
            return Err(malformed(
                "the device authorization response is not a JSON object",
            ));
        };
        let text = |name| field(&json, name);
        let device_code = text("device_code")?.ok_or(malformed("no device_code"))?;
        let user_code = text("user_code")?.ok_or(malformed("no user_code"))?;
        let verification_uri = text("verification_uri")?.ok_or(malformed("no verification_uri"))?;
        let complete = text("verification_uri_complete")?;
        let policy = self.token_client().http().url_policy();
        for uri in std::iter::once(&verification_uri).chain(complete.as_ref()) {
            let parsed: Uri = uri
                .parse()
                .map_err(|_| malformed("a verification URI is not a URL"))?;
            policy
                .check(&parsed)
                .map_err(|_| malformed("a verification URI is not https"))?;
        }
        let seconds = |name| {
            json.get(name)
                .and_then(Value::as_u64)
                .map(Duration::from_secs)
        };
        let expires_in = seconds("expires_in").ok_or(malformed("no expires_in"))?;
        Ok(DeviceAuthorization {
            device_code: Zeroizing::new(device_code),
            user_code,
            verification_uri,
            verification_uri_complete: complete,
            expires_at: SystemTime::now() + expires_in.min(Duration::from_secs(86_400)),
            interval: seconds("interval")
                .unwrap_or(DEFAULT_INTERVAL)
                .clamp(Duration::from_secs(1), MAX_INTERVAL),
        })
    }

    /// Polls once (RFC 8628 §3.4): [`DevicePoll::Pending`], [`DevicePoll::SlowDown`] (the
    /// interval grown), or the tokens. `expired_token` is [`Error::Expired`],
    /// `access_denied` [`Error::Denied`]; other refusals are [`Error::TokenRequest`].
    pub async fn poll_device_once(
        &self,
        device: &mut DeviceAuthorization,
    ) -> Result<DevicePoll, Error> {
        if SystemTime::now() > device.expires_at {
            return Err(Error::Expired);
        }
        let mut body = String::new();
        form::append(&mut body, "grant_type", GRANT_TYPE);
        form::append(&mut body, "device_code", &device.device_code);
        match self.token_client().post(body).await {
            Ok(tokens) => Ok(DevicePoll::Done(Box::new(self.signed_in(tokens)?))),
            Err(Error::TokenRequest {
                error, description, ..
            }) => match error.as_str() {
                "authorization_pending" => Ok(DevicePoll::Pending),
                "slow_down" => {
                    device.interval = (device.interval + SLOW_DOWN).min(MAX_INTERVAL);
                    Ok(DevicePoll::SlowDown)
                }
                "expired_token" => Err(Error::Expired),
                "access_denied" => Err(Error::Denied { error, description }),
                _ => Err(Error::TokenRequest {
                    status: 400,
                    error,
                    description,
                }),
            },
            Err(e) => Err(e),
        }
    }

    /// Polls at the interval (growing on `slow_down`) until the user approves, refuses,
    /// or the codes expire ([`Error::Expired`]).
    ///
    /// ```no_run
    /// # async fn demo(provider: hearth_pkce::Provider) -> Result<(), hearth_pkce::Error> {
    /// let mut device = provider.device_authorization("openid email").await?;
    /// println!("Open {} and enter {}", device.verification_uri, device.user_code);
    /// let sign_in = provider.poll_device(&mut device).await?;
    /// # Ok(()) }
    /// ```
    pub async fn poll_device(&self, device: &mut DeviceAuthorization) -> Result<SignIn, Error> {
        loop {
            let left = device
                .expires_at
                .duration_since(SystemTime::now())
                .map_err(|_| Error::Expired)?;
            tokio::time::sleep(device.interval.min(left)).await;
            if let DevicePoll::Done(sign_in) = self.poll_device_once(device).await? {
                return Ok(*sign_in);
            }
        }
    }
}

/// A string member; absent or empty is `None`; control characters are refused.
fn field(json: &Map<String, Value>, name: &'static str) -> Result<Option<String>, Error> {
    match json.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if !s.contains(char::is_control) && s.len() <= 2048 => {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(Error::MalformedTokenResponse {
            reason: "a device authorization member is not a short string without control characters",
        }),
    }
}
