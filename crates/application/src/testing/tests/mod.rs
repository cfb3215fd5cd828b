//! Use-case tests against the fakes, by area.

mod api_keys;
mod auth;
mod entities;
mod graph;
mod users;

use std::sync::Arc;

use kg_domain::*;

use super::*;
use crate::*;

struct Harness {
    store: InMemoryStore,
    hasher: Arc<FakeHasher>,
    entities: EntityService,
    relationships: RelationshipService,
    users: UserService,
    auth: AuthService,
    keys: ApiKeyService,
    clock: Arc<FixedClock>,
}

fn harness() -> Harness {
    let store = InMemoryStore::default();
    let hasher = Arc::new(FakeHasher::default());
    let fixed = Arc::new(FixedClock::default());
    let clock: Arc<dyn Clock> = fixed.clone();
    let secrets = Arc::new(FakeKeySecrets::default());
    Harness {
        entities: EntityService::new(Arc::new(store.clone()), clock.clone()),
        relationships: RelationshipService::new(Arc::new(store.clone()), clock.clone()),
        users: UserService::new(Arc::new(store.clone()), hasher.clone(), clock.clone()),
        auth: AuthService::new(
            AuthPorts {
                users: Arc::new(store.clone()),
                sessions: Arc::new(store.clone()),
                hasher: hasher.clone(),
                tokens: Arc::new(FakeTokens),
                refresh: Arc::new(FakeRefresh::default()),
                throttle: Arc::new(store.clone()),
                api_keys: Arc::new(store.clone()),
                key_secrets: secrets.clone(),
                clock: clock.clone(),
            },
            SessionPolicy::default(),
            ThrottlePolicy::default(),
        ),
        keys: ApiKeyService::new(Arc::new(store.clone()), secrets, clock),
        store,
        hasher,
        clock: fixed,
    }
}

fn ctx(role: Role) -> RequestContext {
    RequestContext {
        actor: Actor {
            user_id: UserId::generate(),
            role,
            session: None,
            api_key: None,
        },
        request_id: Some("req-1".into()),
    }
}

fn person(name: &str) -> EntityData {
    EntityDraft {
        kind: Some("Person".into()),
        name: Some(name.into()),
        ..EntityDraft::default()
    }
    .parse()
    .expect("valid draft")
}

fn knows(a: EntityId, b: EntityId) -> RelationshipData {
    RelationshipData {
        ends: Endpoints::new(a, b).expect("distinct"),
        kind: TypeName::parse("KNOWS").expect("valid"),
        attribution: Attribution::default(),
    }
}

const PW: &str = "a-long-and-unusual-passphrase";

async fn signed_in(h: &Harness) -> SessionTokens {
    h.users
        .create_by_operator(NewUser {
            email: "ada@example.org".into(),
            role: "editor".into(),
            password: PW.into(),
        })
        .await
        .expect("created");
    h.auth
        .login("ada@example.org", PW.into())
        .await
        .expect("logged in")
}

async fn context_of(h: &Harness, tokens: &SessionTokens) -> RequestContext {
    let actor = h
        .auth
        .authenticate(&tokens.access.access_token)
        .await
        .expect("authenticated");
    RequestContext {
        actor,
        request_id: None,
    }
}

async fn admin_context(h: &Harness) -> (RequestContext, User) {
    let admin = h
        .users
        .create_by_operator(NewUser {
            email: "root@example.org".into(),
            role: "admin".into(),
            password: PW.into(),
        })
        .await
        .expect("admin");
    let ctx = RequestContext {
        actor: Actor {
            user_id: admin.id,
            role: Role::Admin,
            session: None,
            api_key: None,
        },
        request_id: None,
    };
    (ctx, admin)
}
