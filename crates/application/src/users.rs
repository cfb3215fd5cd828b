//! Use cases on user accounts.

use std::sync::Arc;

use kg_domain::{Email, Password, Role, User, UserId, Violations};
use serde_json::json;

use crate::{
    AppError, AuditAction, AuditEntry, AuditTarget, Clock, Page, PageRequest, PasswordHasher,
    RequestContext, ResourceKind, UserRepository,
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

/// Managing user accounts.
#[derive(Clone)]
pub struct UserService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
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
        }
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
        };
        tracing::Span::current().record("user_id", tracing::field::display(user.id));
        let audit = ctx.map(|ctx| AuditEntry {
            actor: ctx.actor.user_id,
            action: AuditAction::Create,
            target: AuditTarget::User(user.id),
            request_id: ctx.request_id.clone(),
            at: now,
            changes: json!({
                "email": { "after": user.email.as_str() },
                "role": { "after": user.role.as_str() },
            }),
        });
        self.users
            .create(&user, audit.as_ref())
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
}
