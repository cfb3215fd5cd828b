//! Use cases on user accounts.

use std::sync::Arc;

use kg_domain::{Email, Password, Role, User, UserId, Version, Violations};
use serde_json::{Map, Value, json};

use crate::principals::PrincipalCache;
use crate::{
    AppError, AuditAction, AuditEntry, AuditTarget, Clock, Conflict, Page, PageRequest,
    PasswordHasher, PatchRequest, RequestContext, ResourceKind, UserRepository,
};

/// A user as an administrator or operator describes it; nothing checked yet.
#[derive(Clone, Default)]
pub struct NewUser {
    /// The email address.
    pub email: String,
    /// The role's name.
    pub role: String,
    /// The initial password.
    pub password: String,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl NewUser {
    fn parse(self) -> Result<(Email, Role, Password), Violations> {
        let mut v = Violations::new();
        let email = v.check("email", Email::parse(&self.email));
        let role = v.check("role", self.role.parse::<Role>());
        let password = match &email {
            Some(email) => v.check("password", Password::new(self.password, email)),
            None => None,
        };
        match (email, role, password) {
            (Some(e), Some(r), Some(p)) if v.is_empty() => Ok((e, r, p)),
            _ => Err(v),
        }
    }
}

/// A change to a user: the fields it sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserPatch {
    /// `role`.
    pub role: Option<Role>,
    /// `is_active`.
    pub is_active: Option<bool>,
}

/// Managing user accounts.
#[derive(Clone)]
pub struct UserService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    principals: Arc<PrincipalCache>,
}

impl std::fmt::Debug for UserService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserService").finish_non_exhaustive()
    }
}

impl UserService {
    /// A service over the given ports.
    #[must_use]
    pub fn new(
        users: Arc<dyn UserRepository>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            users,
            hasher,
            clock,
            principals: Arc::new(PrincipalCache::default()),
        }
    }

    /// The service with `principals` as this instance's cache of
    /// authenticated principals (see [`crate::AuthService::with_principals`]),
    /// which it invalidates when it changes someone's standing.
    #[must_use]
    pub fn with_principals(mut self, principals: Arc<PrincipalCache>) -> Self {
        self.principals = principals;
        self
    }

    /// An admin creates a user with the role the admin chooses.
    ///
    /// # Errors
    /// `Forbidden` unless the actor is an admin; `Validation`;
    /// `Conflict(EmailTaken)`; `Unavailable`; `Internal`.
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn create(&self, ctx: &RequestContext, new: NewUser) -> Result<User, AppError> {
        ctx.actor.require_admin()?;
        self.insert(new, Some(ctx)).await
    }

    /// An operator with access to the server creates a user from the command
    /// line; this is how the first admin is made.
    ///
    /// # Errors
    /// `Validation`; `Conflict(EmailTaken)`; `Unavailable`; `Internal`.
    pub async fn create_by_operator(&self, new: NewUser) -> Result<User, AppError> {
        self.insert(new, None).await
    }

    async fn insert(&self, new: NewUser, ctx: Option<&RequestContext>) -> Result<User, AppError> {
        let (email, role, password) = new.parse()?;
        let password_hash = self
            .hasher
            .hash(&password)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::User))?;
        let now = self.clock.now();
        let user = User {
            id: UserId::generate(),
            email,
            role,
            is_active: true,
            password_hash,
            created_at: now,
            updated_at: now,
            version: Version::FIRST,
        };
        tracing::Span::current().record("user_id", tracing::field::display(user.id));
        // From the command line there is no signed-in actor: the account
        // itself is recorded as the actor, and the entry says so.
        let audit = AuditEntry {
            actor: ctx.map_or(user.id, |c| c.actor.user_id),
            action: AuditAction::Create,
            target: AuditTarget::User(user.id),
            request_id: ctx.and_then(|c| c.request_id.clone()),
            at: now,
            changes: json!({
                "email": { "after": user.email.as_str() },
                "role": { "after": user.role.as_str() },
                "via": if ctx.is_some() { "api" } else { "command line" },
            }),
        };
        self.users
            .create(&user, Some(&audit))
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::User))?;
        Ok(user)
    }

    /// A page of users, for admins.
    ///
    /// # Errors
    /// `Forbidden` unless the actor is an admin; `Unavailable`; `Internal`.
    pub async fn list(
        &self,
        ctx: &RequestContext,
        page: PageRequest,
    ) -> Result<Page<User>, AppError> {
        ctx.actor.require_admin()?;
        self.users
            .list(page)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::User))
    }

    /// A page of users for an operator at the command line, who has shell
    /// access to the deployment and so no role to check.
    ///
    /// # Errors
    /// `Unavailable`; `Internal`.
    pub async fn list_by_operator(&self, page: PageRequest) -> Result<Page<User>, AppError> {
        self.users
            .list(page)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::User))
    }

    /// The active account with this email, for an operator command that
    /// acts as it (`--as`, `--owner`): operators have access to the
    /// deployment and so no role to check. `None` when no active account has
    /// the email.
    ///
    /// # Errors
    /// `DatabaseUnavailable`; `Unavailable`; `Internal`.
    pub async fn find_active_by_operator(&self, email: &Email) -> Result<Option<User>, AppError> {
        Ok(self
            .users
            .find_by_email(email)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::User))?
            .filter(|u| u.is_active))
    }

    /// A user, for admins.
    ///
    /// # Errors
    /// `Forbidden` unless the actor is an admin; `NotFound`; `Unavailable`; `Internal`.
    pub async fn get(&self, ctx: &RequestContext, id: UserId) -> Result<User, AppError> {
        ctx.actor.require_admin()?;
        self.users
            .get(id)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::User))?
            .ok_or(AppError::NotFound(ResourceKind::User))
    }

    /// Applies `patch` to a user still at `expected`. Demoting or
    /// deactivating a user ends their sessions.
    ///
    /// # Errors
    /// `Forbidden` unless the actor is an admin; `NotFound`; `Validation`
    /// with what the patch's reader refused;
    /// `Conflict(CannotModifySelf | LastActiveAdmin)`; `PreconditionRequired`;
    /// `VersionMismatch`; `Unavailable`; `Internal`.
    #[tracing::instrument(skip_all, fields(user_id = %id))]
    pub async fn update(
        &self,
        ctx: &RequestContext,
        id: UserId,
        expected: Option<Version>,
        patch: impl Into<PatchRequest<UserPatch>>,
    ) -> Result<User, AppError> {
        let current = self.get(ctx, id).await?;
        let PatchRequest { patch, refused } = patch.into();
        if !refused.is_empty() {
            return Err(AppError::Validation(refused));
        }
        let mut next = current.clone();
        if let Some(role) = patch.role {
            next.role = role;
        }
        if let Some(active) = patch.is_active {
            next.is_active = active;
        }
        let touches_self =
            id == ctx.actor.user_id && (next.role != current.role || !next.is_active);
        if touches_self {
            return Err(AppError::Conflict(Conflict::CannotModifySelf));
        }
        self.save(ctx, current, next, expected).await
    }

    /// Deactivates a user and ends their sessions. Accounts are never
    /// deleted: the audit trail keeps pointing at them.
    ///
    /// # Errors
    /// As [`update`](Self::update), without the precondition.
    #[tracing::instrument(skip_all, fields(user_id = %id))]
    pub async fn deactivate(&self, ctx: &RequestContext, id: UserId) -> Result<(), AppError> {
        let current = self.get(ctx, id).await?;
        if id == ctx.actor.user_id {
            return Err(AppError::Conflict(Conflict::CannotModifySelf));
        }
        let expected = current.version;
        let mut next = current.clone();
        next.is_active = false;
        self.save(ctx, current, next, Some(expected))
            .await
            .map(drop)
    }

    async fn save(
        &self,
        ctx: &RequestContext,
        current: User,
        mut next: User,
        expected: Option<Version>,
    ) -> Result<User, AppError> {
        let expected = expected.ok_or(AppError::PreconditionRequired)?;
        if current.version != expected {
            return Err(AppError::VersionMismatch);
        }
        if next.role == current.role && next.is_active == current.is_active {
            return Ok(current);
        }
        let now = self.clock.now();
        next.updated_at = now;
        next.version = expected.next();
        let end_sessions = next.role < current.role || (current.is_active && !next.is_active);
        let mut changes = Map::new();
        if next.role != current.role {
            changes.insert(
                "role".into(),
                json!({ "before": current.role.as_str(), "after": next.role.as_str() }),
            );
        }
        if next.is_active != current.is_active {
            changes.insert(
                "is_active".into(),
                json!({ "before": current.is_active, "after": next.is_active }),
            );
        }
        let audit = ctx.audit(
            AuditAction::Update,
            AuditTarget::User(next.id),
            now,
            Value::Object(changes),
        );
        let updated = self
            .users
            .update(&next, expected, end_sessions, &audit)
            .await;
        self.principals.invalidate();
        updated.map_err(|e| AppError::from_repo(e, ResourceKind::User))?;
        Ok(next)
    }
}
