//! kg as a library, the way another Rust service links it: open a database
//! through the sea-orm adapter, run the migrations, wire the use cases of
//! `kg-application` to the repositories, and use them directly, with no
//! HTTP in between.
//!
//! [`citation_graph`] ingests a small citation graph in one typed batch, corrects
//! an entity with a typed patch, walks the graph from one paper, and reads
//! the change feed, returning what it saw.

use std::sync::Arc;

use anyhow::Context as _;
use kg_application::{
    Actor, Batch, BatchRelationship, BatchService, Clock, Depth, Direction, EndRef, EntityPatch,
    EntityService, FeedRequest, GraphService, HistoryService, Limit, NeighborQuery, NodeBudget,
    Position, RequestContext, SystemClock, UserRepository,
};
use kg_domain::{
    Attribution, Confidence, Email, EntityData, EntityName, ExternalId, PasswordHash, Role,
    TypeName, User, UserId, Version,
};
use kg_persistence::{
    DatabaseSettings, MigrationCommand, SeaOrmAuditLog, SeaOrmBatchRepository, SeaOrmChangeFeed,
    SeaOrmEntityRepository, SeaOrmRelationshipRepository, SeaOrmUserRepository, connect,
    connect_for_migrations, migrate,
};

/// What the walk through the library saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Items the batch created.
    pub created: usize,
    /// Names of the papers within two citations of the first one, in the
    /// order the traversal reached them.
    pub reachable: Vec<String>,
    /// The corrected title, read back.
    pub corrected_title: String,
    /// Changes in the feed, in commit order: `action resource_type`.
    pub feed: Vec<String>,
}

/// The account the program's changes are attributed to in the audit log: a
/// deactivated service account, so it cannot sign in; its stored hash is a
/// well-formed argon2id string that no known password produces.
async fn service_account(users: &SeaOrmUserRepository) -> anyhow::Result<UserId> {
    let email = Email::parse("citation-loader@example.org")?;
    if let Some(existing) = users.find_by_email(&email).await? {
        return Ok(existing.id);
    }
    let now = SystemClock.now();
    let user = User {
        id: UserId::generate(),
        email,
        role: Role::Editor,
        is_active: false,
        password_hash: PasswordHash::from_phc(
            "$argon2id$v=19$m=19456,t=2,p=1$bm8tcGFzc3dvcmQ$bm8tcGFzc3dvcmQtaGVyZQ".to_owned(),
        ),
        created_at: now,
        updated_at: now,
        version: Version::FIRST,
    };
    users.create(&user, None).await?;
    Ok(user.id)
}

/// Runs the walk against the database at `url` (`sqlite://…?mode=rwc`).
///
/// # Errors
/// Any failure of the database or of a use case, with its cause.
pub async fn citation_graph(url: &str) -> anyhow::Result<Report> {
    let settings = DatabaseSettings::new(url.to_owned());
    let migrations = connect_for_migrations(&settings).await?;
    migrate(&migrations, MigrationCommand::Up).await?;
    migrations.close().await?;
    let db = connect(&settings).await?;

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let entities = Arc::new(SeaOrmEntityRepository::new(db.clone()));
    let relationships = Arc::new(SeaOrmRelationshipRepository::new(db.clone()));
    let batch = BatchService::new(
        Arc::new(SeaOrmBatchRepository::new(db.clone())),
        clock.clone(),
    );
    let papers = EntityService::new(entities.clone(), clock.clone());
    let graph = GraphService::new(entities, relationships);
    let history = HistoryService::new(
        Arc::new(SeaOrmChangeFeed::new(db.clone())),
        Arc::new(SeaOrmAuditLog::new(db.clone())),
    );
    let ctx = RequestContext {
        actor: Actor {
            user_id: service_account(&SeaOrmUserRepository::new(db.clone())).await?,
            role: Role::Editor,
            session: None,
            api_key: None,
        },
        request_id: Some("citation-loader".to_owned()),
    };

    // One atomic batch: four papers and the citations between them, the
    // citations naming papers by their DOIs.
    let paper = |doi: &str, title: &str| -> anyhow::Result<EntityData> {
        Ok(EntityData {
            kind: TypeName::parse("Paper")?,
            name: EntityName::parse(title)?,
            external_id: Some(ExternalId::parse(doi)?),
            attribution: Attribution {
                source_type: Some(TypeName::parse("crossref")?),
                ..Attribution::default()
            },
        })
    };
    let cites = |from: &str, to: &str| -> anyhow::Result<BatchRelationship> {
        Ok(BatchRelationship {
            source: EndRef::ExternalId(ExternalId::parse(from)?),
            target: EndRef::ExternalId(ExternalId::parse(to)?),
            kind: TypeName::parse("CITES")?,
            attribution: Attribution {
                confidence: Some(Confidence::new(0.9)?),
                ..Attribution::default()
            },
        })
    };
    let parsed = Batch::new(
        vec![
            paper("10.1/a", "A Mathematical Theory of Communiction")?,
            paper("10.1/b", "Computing Machinery and Intelligence")?,
            paper("10.1/c", "On Computable Numbers")?,
            paper("10.1/d", "Sketch of the Analytical Engine")?,
        ],
        vec![
            cites("10.1/a", "10.1/b")?,
            cites("10.1/b", "10.1/c")?,
            cites("10.1/c", "10.1/d")?,
        ],
    )
    .map_err(|v| anyhow::anyhow!("invalid batch: {v}"))?;
    let report = batch.apply(&ctx, parsed, false).await?;
    let first = report.entities.first().context("no entity created")?;
    let first_id = kg_domain::EntityId::from_uuid(first.id);

    // Fix a typo with a patch, conditional on the version just read.
    let current = papers.get(&ctx, first_id).await?;
    let patch = EntityPatch {
        name: Some(EntityName::parse("A Mathematical Theory of Communication")?),
        ..EntityPatch::default()
    };
    let corrected = papers
        .update(&ctx, first_id, Some(current.lifecycle.version), patch)
        .await?;

    let around = graph
        .neighbors(
            &ctx,
            first_id,
            &NeighborQuery {
                depth: Depth::new(2).map_err(anyhow::Error::msg)?,
                direction: Direction::Outgoing,
                entity_type: None,
                relationship_type: None,
                min_confidence: None,
                max_nodes: NodeBudget::MAX,
            },
        )
        .await?;

    let feed = history
        .changes(
            &ctx,
            FeedRequest {
                after: Position::START,
                limit: Limit::new(100).map_err(anyhow::Error::msg)?,
            },
        )
        .await?;
    db.close().await?;
    Ok(Report {
        created: report.entities.len() + report.relationships.len(),
        reachable: around
            .nodes
            .iter()
            .skip(1)
            .map(|n| n.data.name.to_string())
            .collect(),
        corrected_title: corrected.data.name.to_string(),
        feed: feed
            .items
            .iter()
            .map(|c| format!("{} {}", c.action.as_str(), c.resource.kind()))
            .collect(),
    })
}
