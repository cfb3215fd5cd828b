//! Logging in, sessions, and recognising who is calling.

use std::sync::Arc;

use chrono::Duration;
use kg_domain::{Email, Password, Session, SessionId, SessionState, User, Violations};
use serde_json::json;

use crate::principals::{Credential, Grant, PrincipalCache};
use crate::{
    Actor, ApiKeyRepository, ApiKeySecrets, AppError, AuditAction, AuditEntry, AuditTarget, Clock,
    LoginThrottle, PasswordHasher, RefreshTokens, RequestContext, ResourceKind, Rotation,
    SessionRepository, ThrottleKey, ThrottlePolicy, TokenIssuer, UserRepository,
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

/// What a login or a refresh hands the client.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionTokens {
    /// The short-lived access token.
    pub access: IssuedToken,
    /// The refresh token; valid for one use.
    pub refresh_token: String,
    /// Seconds until the session's absolute expiry.
    pub refresh_expires_in: i64,
}

impl std::fmt::Debug for SessionTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTokens")
            .field("access", &self.access)
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

/// How long sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused this long cannot be refreshed.
    pub idle: Duration,
    /// No session lives longer than this after login.
    pub absolute: Duration,
    /// A refresh token spent this recently may be presented once more, and
    /// answers new tokens instead of revoking the session: a client that
    /// refreshed twice at once, or lost the first answer, stays signed in.
    /// The first of the two answers used spends the other. Zero: no grace.
    pub reuse_grace: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::days(7),
            absolute: Duration::days(30),
            reuse_grace: Duration::seconds(30),
        }
    }
}

/// The ports login and authentication need.
#[derive(Clone)]
pub struct AuthPorts {
    /// User accounts.
    pub users: Arc<dyn UserRepository>,
    /// Sign-in sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Access tokens.
    pub tokens: Arc<dyn TokenIssuer>,
    /// Refresh tokens.
    pub refresh: Arc<dyn RefreshTokens>,
    /// Failed-login bookkeeping.
    pub throttle: Arc<dyn LoginThrottle>,
    /// API keys.
    pub api_keys: Arc<dyn ApiKeyRepository>,
    /// API key secrets.
    pub key_secrets: Arc<dyn ApiKeySecrets>,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AuthPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthPorts").finish_non_exhaustive()
    }
}

/// Login, sessions and authentication.
#[derive(Clone)]
pub struct AuthService {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenIssuer>,
    refresh: Arc<dyn RefreshTokens>,
    throttle: Arc<dyn LoginThrottle>,
    api_keys: Arc<dyn ApiKeyRepository>,
    key_secrets: Arc<dyn ApiKeySecrets>,
    clock: Arc<dyn Clock>,
    policy: SessionPolicy,
    throttling: ThrottlePolicy,
    principals: Arc<PrincipalCache>,
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService")
            .field("policy", &self.policy)
            .field("throttling", &self.throttling)
            .finish_non_exhaustive()
    }
}

fn throttled(until: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> AppError {
    let millis = u64::try_from((until - now).num_milliseconds()).unwrap_or(0);
    AppError::Throttled {
        retry_after_secs: millis.div_ceil(1000).max(1),
    }
}

fn user_err(e: crate::RepoError) -> AppError {
    AppError::from_repo(e, ResourceKind::User)
}

impl AuthService {
    /// A service over the given ports and policies.
    #[must_use]
    pub fn new(ports: AuthPorts, policy: SessionPolicy, throttling: ThrottlePolicy) -> Self {
        let AuthPorts {
            users,
            sessions,
            hasher,
            tokens,
            refresh,
            throttle,
            api_keys,
            key_secrets,
            clock,
        } = ports;
        Self {
            users,
            sessions,
            hasher,
            tokens,
            refresh,
            throttle,
            api_keys,
            key_secrets,
            clock,
            policy,
            throttling,
            principals: Arc::new(PrincipalCache::default()),
        }
    }

    /// The service with `principals` as its cache of authenticated
    /// principals, shared with the [`crate::UserService`] and
    /// [`crate::ApiKeyService`] of this instance and driven by a change
    /// channel. Without one, every request reads its principal.
    #[must_use]
    pub fn with_principals(mut self, principals: Arc<PrincipalCache>) -> Self {
        self.principals = principals;
        self
    }

    /// Exchanges an email and password for a new session's tokens.
    ///
    /// Every failure (malformed or unknown email, wrong password, inactive
    /// account) is the same `InvalidCredentials`, after the same amount of
    /// hashing work, and counts against the submitted email. Past the
    /// policy's free failures the email is throttled with a growing
    /// back-off: every attempt, right password or not, known email or not,
    /// is `Throttled` until it ends.
    ///
    /// # Errors
    /// `Throttled`; `InvalidCredentials`; `Unavailable` when too many logins
    /// are hashing; `Internal`.
    #[tracing::instrument(skip_all, fields(user_id, session_id))]
    pub async fn login(&self, email: &str, password: String) -> Result<SessionTokens, AppError> {
        let key = ThrottleKey::for_email(email);
        let now = self.clock.now();
        if let Some(until) = self
            .throttle
            .begin_attempt(&key, now, &self.throttling)
            .await
            .map_err(user_err)?
        {
            return Err(throttled(until, now));
        }
        let password = Password::for_login(password);
        let user = match Email::parse(email) {
            Ok(email) => self.users.find_by_email(&email).await.map_err(user_err)?,
            Err(_) => None,
        };
        let matches = self
            .hasher
            .verify(&password, user.as_ref().map(|u| &u.password_hash))
            .await
            .map_err(user_err)?;
        let user = match user {
            Some(user) if matches && user.is_active => user,
            Some(_) | None => return Err(AppError::InvalidCredentials),
        };
        self.throttle.clear(&key).await.map_err(user_err)?;
        if self.hasher.needs_rehash(&user.password_hash) {
            let hash = self.hasher.hash(&password).await.map_err(user_err)?;
            let audit = AuditEntry {
                actor: user.id,
                action: AuditAction::Update,
                target: AuditTarget::User(user.id),
                request_id: None,
                at: now,
                changes: json!({ "password_hash": "rehashed with current parameters" }),
            };
            self.users
                .replace_password_hash(user.id, &user.password_hash, &hash, &audit)
                .await
                .map_err(user_err)?;
        }
        let id = SessionId::generate();
        let (refresh_token, digest) = self.refresh.mint(id);
        let session = Session {
            id,
            user_id: user.id,
            refresh_digest: digest,
            created_at: now,
            last_used_at: now,
            expires_at: now + self.policy.absolute,
            revoked_at: None,
        };
        self.sessions.create(&session).await.map_err(user_err)?;
        let span = tracing::Span::current();
        span.record("user_id", tracing::field::display(user.id));
        span.record("session_id", tracing::field::display(id));
        self.tokens_for(&session, refresh_token)
    }

    fn tokens_for(
        &self,
        session: &Session,
        refresh_token: String,
    ) -> Result<SessionTokens, AppError> {
        let now = self.clock.now();
        let access = self
            .tokens
            .issue(session.user_id, session.id, now)
            .map_err(|e| AppError::Internal(Box::new(e)))?;
        Ok(SessionTokens {
            access,
            refresh_token,
            refresh_expires_in: (session.expires_at - now).num_seconds().max(0),
        })
    }

    /// Rotates a refresh token: the presented one is spent, a new pair is
    /// returned. Presenting a spent token revokes the whole session, so a
    /// stolen token and its legitimate successor both stop working, except
    /// once within [`SessionPolicy::reuse_grace`] of its spending (a double
    /// refresh). A token the session never issued is refused and changes
    /// nothing, so knowing a session's id is not enough to end it.
    ///
    /// # Errors
    /// `InvalidRefreshToken`; `SessionExpired`; `Unavailable`; `Internal`.
    #[tracing::instrument(skip_all, fields(session_id))]
    pub async fn refresh(&self, token: &str) -> Result<SessionTokens, AppError> {
        let (id, presented) = self
            .refresh
            .read(token)
            .ok_or(AppError::InvalidRefreshToken)?;
        tracing::Span::current().record("session_id", tracing::field::display(id));
        let (session, user) = self
            .sessions
            .get_with_user(id)
            .await
            .map_err(user_err)?
            .ok_or(AppError::InvalidRefreshToken)?;
        let now = self.clock.now();
        match session.state(now, self.policy.idle) {
            SessionState::Active => {}
            SessionState::Revoked => return Err(AppError::InvalidRefreshToken),
            SessionState::Expired => return Err(AppError::SessionExpired),
        }
        if !user.is_active {
            return Err(AppError::InvalidRefreshToken);
        }
        let (next_token, next) = self.refresh.mint(id);
        let grace_since =
            (self.policy.reuse_grace > Duration::zero()).then(|| now - self.policy.reuse_grace);
        match self
            .sessions
            .rotate(id, &presented, &next, now, grace_since)
            .await
            .map_err(user_err)?
        {
            outcome @ (Rotation::Rotated | Rotation::Graced) => {
                if outcome == Rotation::Graced {
                    tracing::info!(session_id = %id, "a spent refresh token presented again within its grace");
                }
                let mut rotated = session;
                rotated.refresh_digest = next;
                rotated.last_used_at = now;
                self.tokens_for(&rotated, next_token)
            }
            Rotation::ReuseDetected => {
                self.principals.invalidate();
                tracing::warn!(session_id = %id, user_id = %session.user_id, "refresh token reuse detected; session revoked");
                Err(AppError::InvalidRefreshToken)
            }
            Rotation::NotIssued => {
                tracing::warn!(session_id = %id, "a refresh token this session never issued was presented");
                Err(AppError::InvalidRefreshToken)
            }
            Rotation::NoSession => Err(AppError::InvalidRefreshToken),
        }
    }

    /// Ends the caller's session: its access and refresh tokens stop
    /// working on the next request.
    ///
    /// # Errors
    /// `Forbidden` for API keys; `Unavailable`; `Internal`.
    pub async fn logout(&self, ctx: &RequestContext) -> Result<(), AppError> {
        ctx.actor.require_person()?;
        let Some(session) = ctx.actor.session else {
            return Ok(());
        };
        let revoked = self.sessions.revoke(session, self.clock.now()).await;
        self.principals.invalidate();
        revoked.map_err(user_err)
    }

    /// Changes the caller's password after checking the current one, and
    /// ends every other session of theirs.
    ///
    /// # Errors
    /// `Validation` naming `current_password` when it is wrong, or
    /// `new_password` when it breaks the policy; `Unavailable`; `Internal`.
    #[tracing::instrument(skip_all, fields(user_id = %ctx.actor.user_id))]
    pub async fn change_password(
        &self,
        ctx: &RequestContext,
        current: String,
        new: String,
    ) -> Result<(), AppError> {
        let user = self.me(ctx).await?;
        // Guesses at the current password count like failed logins.
        let key = ThrottleKey::for_email(user.email.as_str());
        let now = self.clock.now();
        if let Some(until) = self
            .throttle
            .begin_attempt(&key, now, &self.throttling)
            .await
            .map_err(user_err)?
        {
            return Err(throttled(until, now));
        }
        let matches = self
            .hasher
            .verify(&Password::for_login(current), Some(&user.password_hash))
            .await
            .map_err(user_err)?;
        if matches {
            self.throttle.clear(&key).await.map_err(user_err)?;
        }
        let mut v = Violations::new();
        if !matches {
            v.push("current_password", "is not the account's password");
        }
        let new = v.check("new_password", Password::new(new, &user.email));
        let Some(new) = new.filter(|_| v.is_empty()) else {
            return Err(AppError::Validation(v));
        };
        let hash = self.hasher.hash(&new).await.map_err(user_err)?;
        let audit = ctx.audit(
            AuditAction::Update,
            AuditTarget::User(user.id),
            self.clock.now(),
            json!({ "password": "changed", "other_sessions": "revoked" }),
        );
        let set = self
            .users
            .set_password(user.id, &hash, ctx.actor.session, &audit)
            .await;
        self.principals.invalidate();
        set.map_err(user_err)
    }

    /// An operator's reset of a user's password from the command line, for
    /// an account whose password is lost (the last admin's, say): the new
    /// password must meet the policy; every session of the user ends, the
    /// account's login lock-out is lifted, and the audit entry records the
    /// account itself as the actor, as for the first admin.
    ///
    /// # Errors
    /// `Validation` for a malformed email or a password the policy refuses;
    /// `NotFound(User)`; `Unavailable`; `Internal`.
    pub async fn reset_password_by_operator(
        &self,
        email: &str,
        password: String,
    ) -> Result<User, AppError> {
        let mut v = Violations::new();
        let Some(email) = v.check("email", Email::parse(email)) else {
            return Err(AppError::Validation(v));
        };
        let user = self
            .users
            .find_by_email(&email)
            .await
            .map_err(user_err)?
            .ok_or(AppError::NotFound(ResourceKind::User))?;
        let Some(password) = v.check("password", Password::new(password, &user.email)) else {
            return Err(AppError::Validation(v));
        };
        let hash = self.hasher.hash(&password).await.map_err(user_err)?;
        let audit = AuditEntry {
            actor: user.id,
            action: AuditAction::Update,
            target: AuditTarget::User(user.id),
            request_id: None,
            at: self.clock.now(),
            changes: json!({ "password": "reset", "sessions": "revoked", "via": "command line" }),
        };
        let set = self.users.set_password(user.id, &hash, None, &audit).await;
        self.principals.invalidate();
        set.map_err(user_err)?;
        self.throttle
            .clear(&ThrottleKey::for_email(user.email.as_str()))
            .await
            .map_err(user_err)?;
        Ok(user)
    }

    /// The actor a credential stands for: an API key, or an access token
    /// as the user and session are stored now, or as the principal cache
    /// kept them while a channel vouches for it. Logout, password change,
    /// deactivation, key revocation and a role change take effect on this
    /// instance's next request, and on every other instance within
    /// [`crate::PRINCIPAL_STALENESS_BOUND`].
    ///
    /// # Errors
    /// `Unauthenticated` for a bad token or key, an unknown or inactive
    /// user, an ended session, or a revoked or expired key; `Unavailable`;
    /// `Internal`.
    pub async fn authenticate(&self, credential: &str) -> Result<Actor, AppError> {
        if let Some(digest) = self.key_secrets.digest(credential) {
            return self.authenticate_key(&digest).await;
        }
        let (user_id, session_id) = self
            .tokens
            .verify(credential)
            .map_err(|_| AppError::Unauthenticated)?;
        let now = self.clock.now();
        let grant = self
            .grant(Credential::Session(session_id), async {
                let found = self
                    .sessions
                    .get_with_user(session_id)
                    .await
                    .map_err(user_err)?;
                Ok(found
                    .filter(|(session, user)| session.revoked_at.is_none() && user.is_active)
                    .map(|(session, user)| Grant {
                        actor: Actor {
                            user_id: user.id,
                            role: user.role,
                            session: Some(session_id),
                            api_key: None,
                        },
                        expires_at: Some(session.expires_at),
                        last_used_at: None,
                    }))
            })
            .await?;
        // The token names the session's own user, and the session is not over.
        grant
            .filter(|g| g.actor.user_id == user_id && g.usable(now))
            .map(|g| g.actor)
            .ok_or(AppError::Unauthenticated)
    }

    async fn authenticate_key(&self, digest: &kg_domain::TokenDigest) -> Result<Actor, AppError> {
        let now = self.clock.now();
        let credential = Credential::Key(*digest);
        let grant = self
            .grant(credential, async {
                let found = self
                    .api_keys
                    .find_by_digest_with_owner(digest)
                    .await
                    .map_err(user_err)?;
                // A key acts for its creator and dies with their account.
                Ok(found
                    .filter(|(key, owner)| key.revoked_at.is_none() && owner.is_active)
                    .map(|(key, owner)| Grant {
                        actor: Actor {
                            user_id: key.created_by,
                            // Never more than the owner has now: demoting the
                            // owner demotes the key.
                            role: key.role.min(owner.role),
                            session: None,
                            api_key: Some(key.id),
                        },
                        expires_at: key.expires_at,
                        last_used_at: key.last_used_at,
                    }))
            })
            .await?
            .filter(|g| g.usable(now))
            .ok_or(AppError::Unauthenticated)?;
        // Record use at most once a minute: reads must not write on every request.
        if let Some(key) = grant.actor.api_key
            && grant
                .last_used_at
                .is_none_or(|t| now - t >= Duration::minutes(1))
        {
            self.api_keys.touch(key, now).await.map_err(user_err)?;
            self.principals.touched(&credential, now);
        }
        Ok(grant.actor)
    }

    /// What `credential` grants: from the principal cache, or else from
    /// `read` (which runs only on a miss), kept for the next request unless
    /// something was invalidated meanwhile. `None` when nothing is granted.
    async fn grant(
        &self,
        credential: Credential,
        read: impl Future<Output = Result<Option<Grant>, AppError>>,
    ) -> Result<Option<Grant>, AppError> {
        if let Some(grant) = self.principals.get(&credential) {
            return Ok(Some(grant));
        }
        let generation = self.principals.generation();
        let grant = read.await?;
        if let Some(grant) = grant {
            self.principals.put(credential, grant, generation);
        }
        Ok(grant)
    }

    /// The anti-CSRF token a cookie-authenticated client must echo on
    /// unsafe requests in `session`.
    #[must_use]
    pub fn csrf_token(&self, session: SessionId) -> String {
        self.tokens.csrf_token(session)
    }

    /// Whether `presented` is the anti-CSRF token of `session`, compared in
    /// constant time.
    #[must_use]
    pub fn csrf_matches(&self, session: SessionId, presented: &str) -> bool {
        let expected = self.tokens.csrf_token(session);
        expected.len() == presented.len()
            && expected
                .bytes()
                .zip(presented.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// The session a refresh token names, if it is well-formed.
    #[must_use]
    pub fn session_of_refresh_token(&self, token: &str) -> Option<SessionId> {
        self.refresh.read(token).map(|(session, _)| session)
    }

    /// The calling user's account.
    ///
    /// # Errors
    /// `Forbidden` for API keys; `Unauthenticated` if the account vanished;
    /// `Unavailable`; `Internal`.
    pub async fn me(&self, ctx: &RequestContext) -> Result<User, AppError> {
        ctx.actor.require_person()?;
        self.users
            .get(ctx.actor.user_id)
            .await
            .map_err(user_err)?
            .ok_or(AppError::Unauthenticated)
    }
}
