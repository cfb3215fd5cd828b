//! Logging in and recognising who is calling.

use std::sync::Arc;

use kg_domain::{Email, Password, User};

use crate::{
    Actor, AppError, Clock, PasswordHasher, RequestContext, ResourceKind, TokenIssuer,
    UserRepository,
};

/// An access token and how long it lives.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The bearer token.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Why a token could not be issued or was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not authentic, expired, not yet valid, or otherwise unacceptable.
    #[error("invalid token")]
    Invalid,
    /// Signing failed.
    #[error("could not issue a token")]
    Issue(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Login and authentication.
#[derive(Clone)]
pub struct AuthService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenIssuer>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService").finish_non_exhaustive()
    }
}

impl AuthService {
    /// A service over the given ports.
    #[must_use]
    pub fn new(
        users: Arc<dyn UserRepository>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenIssuer>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            users,
            hasher,
            tokens,
            clock,
        }
    }

    /// Exchanges an email and password for an access token.
    ///
    /// Every failure (malformed or unknown email, wrong password, inactive
    /// account) is the same `InvalidCredentials`, after the same amount of
    /// hashing work.
    ///
    /// # Errors
    /// `InvalidCredentials`; `Unavailable` when too many logins are hashing;
    /// `Internal`.
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn login(&self, email: &str, password: String) -> Result<IssuedToken, AppError> {
        let password = Password::for_login(password);
        let user = match Email::parse(email) {
            Ok(email) => self
                .users
                .find_by_email(&email)
                .await
                .map_err(|e| AppError::from_repo(e, ResourceKind::User))?,
            Err(_) => None,
        };
        let matches = self
            .hasher
            .verify(&password, user.as_ref().map(|u| &u.password_hash))
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::User))?;
        let user = match user {
            Some(user) if matches && user.is_active => user,
            Some(_) | None => return Err(AppError::InvalidCredentials),
        };
        tracing::Span::current().record("user_id", tracing::field::display(user.id));
        self.tokens
            .issue(user.id, self.clock.now())
            .map_err(|e| AppError::Internal(Box::new(e)))
    }

    /// The actor a bearer token stands for, as the user is stored now: a
    /// deactivated user's tokens stop working at once, and a role change
    /// applies to the next request.
    ///
    /// # Errors
    /// `Unauthenticated` for a bad token or an unknown or inactive user;
    /// `Unavailable`; `Internal`.
    pub async fn authenticate(&self, token: &str) -> Result<Actor, AppError> {
        let user_id = self
            .tokens
            .verify(token)
            .map_err(|_| AppError::Unauthenticated)?;
        match self
            .users
            .get(user_id)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::User))?
        {
            Some(user) if user.is_active => Ok(Actor {
                user_id: user.id,
                role: user.role,
            }),
            Some(_) | None => Err(AppError::Unauthenticated),
        }
    }

    /// The calling user's account.
    ///
    /// # Errors
    /// `Unauthenticated` if the account vanished; `Unavailable`; `Internal`.
    pub async fn me(&self, ctx: &RequestContext) -> Result<User, AppError> {
        self.users
            .get(ctx.actor.user_id)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::User))?
            .ok_or(AppError::Unauthenticated)
    }
}
