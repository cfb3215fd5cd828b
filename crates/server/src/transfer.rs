//! `kg export` and `kg import`: the live graph as JSON Lines, and back.
//!
//! An export holds one JSON object per line: every live entity
//! (`"record": "entity"`), then every live relationship
//! (`"record": "relationship"`), each with its id and attributes. An import
//! streams such a file through the batch use case in chunks, keeping ids,
//! so importing an export into an empty database reproduces the graph, and
//! importing it again changes nothing.

use std::io::{BufRead, Write};

use anyhow::Context as _;
use kg_application::{
    AppError, BatchReport, EntityFilter, EntityRepository, Limit, MAX_BATCH_ITEMS, Outcome,
    PageRequest, RelationshipFilter, RelationshipRepository, RequestContext, entity_document,
    relationship_document,
};
use serde_json::{Map, Value};

use crate::Services;

/// Fields an export carries that describe history, not the resource; an
/// import leaves them to the importing database.
const LIFECYCLE: [&str; 5] = [
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "version",
];

fn record(kind: &str, document: Value) -> Value {
    let mut map = match document {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for field in LIFECYCLE {
        map.remove(field);
    }
    // The writer's own confidence, which an import states again; the
    // combined one follows from it and the evidence.
    if let Some(stated) = map.remove("stated_confidence") {
        map.insert("confidence".to_owned(), stated);
    }
    map.insert("record".to_owned(), Value::String(kind.to_owned()));
    Value::Object(map)
}

/// Where an export reads the graph from.
pub struct Graph<'a> {
    /// The entities.
    pub entities: &'a dyn EntityRepository,
    /// The relationships.
    pub relationships: &'a dyn RelationshipRepository,
}

impl std::fmt::Debug for Graph<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph").finish_non_exhaustive()
    }
}

/// Writes the live graph to `out`, one page read at a time; returns how many
/// (entities, relationships) it wrote.
///
/// # Errors
/// A failed read of the database or write of `out`.
pub async fn export(graph: &Graph<'_>, out: &mut impl Write) -> anyhow::Result<(u64, u64)> {
    let mut page = PageRequest {
        limit: Limit::new(i64::from(Limit::MAX)).context("page size")?,
        after: None,
    };
    let mut entities = 0;
    loop {
        let found = graph
            .entities
            .list(&EntityFilter::default(), page)
            .await
            .context("reading entities")?;
        for e in &found.items {
            serde_json::to_writer(&mut *out, &record("entity", entity_document(e)))?;
            out.write_all(b"\n")?;
            entities += 1;
        }
        match found.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    page.after = None;
    let mut relationships = 0;
    loop {
        let found = graph
            .relationships
            .list(&RelationshipFilter::default(), page)
            .await
            .context("reading relationships")?;
        for r in &found.items {
            serde_json::to_writer(&mut *out, &record("relationship", relationship_document(r)))?;
            out.write_all(b"\n")?;
            relationships += 1;
        }
        match found.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    out.flush()?;
    Ok((entities, relationships))
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Lines read, blank lines and skipped lines included.
    pub lines: u64,
    /// Items created.
    pub created: u64,
    /// Items updated.
    pub updated: u64,
    /// Items already as in the file.
    pub unchanged: u64,
    /// Lines refused, with why.
    pub failed: Vec<(u64, String)>,
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} lines: {} created, {} updated, {} unchanged, {} failed",
            self.lines,
            self.created,
            self.updated,
            self.unchanged,
            self.failed.len()
        )?;
        for (line, why) in &self.failed {
            write!(f, "\nline {line}: {why}")?;
        }
        Ok(())
    }
}

/// One chunk of lines: items with the line each came from.
#[derive(Default)]
struct Chunk {
    entities: Vec<(u64, Value)>,
    relationships: Vec<(u64, Value)>,
}

impl Chunk {
    fn is_full(&self) -> bool {
        self.entities.len() >= MAX_BATCH_ITEMS || self.relationships.len() >= MAX_BATCH_ITEMS
    }

    fn first_line(&self) -> Option<u64> {
        self.entities
            .iter()
            .chain(&self.relationships)
            .map(|(line, _)| *line)
            .min()
    }
}

/// The item index a violation's field names, as (`entities` or
/// `relationships`, index).
fn item_of(field: &str) -> Option<(&str, usize)> {
    let (list, rest) = field.split_once('[')?;
    let (index, _) = rest.split_once(']')?;
    Some((list, index.parse().ok()?))
}

/// Applies a chunk; items the batch refuses are reported by line and left
/// out, and the rest is applied again (their removal may strand a
/// relationship, which is then refused in turn).
async fn apply_chunk(
    services: &Services,
    ctx: &RequestContext,
    mut chunk: Chunk,
    summary: &mut ImportSummary,
) -> anyhow::Result<()> {
    loop {
        if chunk.entities.is_empty() && chunk.relationships.is_empty() {
            return Ok(());
        }
        let values =
            |items: &[(u64, Value)]| items.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>();
        let parsed = kg_http::batch_json::parse_export(
            values(&chunk.entities),
            values(&chunk.relationships),
        );
        let violations = match parsed {
            Ok(batch) => match services.batch.apply(ctx, batch, false).await {
                Ok(report) => {
                    tally(&report, summary);
                    return Ok(());
                }
                Err(AppError::Validation(v)) => v,
                Err(e) => {
                    let from = chunk.first_line().unwrap_or_default();
                    return Err(anyhow::Error::new(e).context(format!(
                        "applying the lines from {from}; resume with --from-line {from}"
                    )));
                }
            },
            Err(v) => v,
        };
        let mut refused: Vec<(&str, usize, String)> = Vec::new();
        for v in violations.as_slice() {
            match item_of(&v.field) {
                Some((list, index)) => refused.push((
                    if list == "entities" {
                        "entities"
                    } else {
                        "relationships"
                    },
                    index,
                    format!("{}: {}", v.field, v.message),
                )),
                None => anyhow::bail!(
                    "the chunk was refused as a whole: {}: {}",
                    v.field,
                    v.message
                ),
            }
        }
        let mut drop_entities = std::collections::BTreeSet::new();
        let mut drop_relationships = std::collections::BTreeSet::new();
        for (list, index, why) in refused {
            let items = if list == "entities" {
                &chunk.entities
            } else {
                &chunk.relationships
            };
            if let Some((line, _)) = items.get(index) {
                summary.failed.push((*line, why));
            }
            if list == "entities" {
                drop_entities.insert(index);
            } else {
                drop_relationships.insert(index);
            }
        }
        chunk.entities = keep(chunk.entities, &drop_entities);
        chunk.relationships = keep(chunk.relationships, &drop_relationships);
    }
}

fn keep(
    items: Vec<(u64, Value)>,
    dropped: &std::collections::BTreeSet<usize>,
) -> Vec<(u64, Value)> {
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !dropped.contains(i))
        .map(|(_, item)| item)
        .collect()
}

/// Adds a chunk's outcomes. An import keeps ids, so it restates facts and
/// never corroborates one (ADR 44): no item of it is `corroborated`.
fn tally(report: &BatchReport, summary: &mut ImportSummary) {
    summary.created += report.count(Outcome::Created) as u64;
    summary.updated += report.count(Outcome::Updated) as u64;
    summary.unchanged += report.count(Outcome::Unchanged) as u64;
}

/// Reads JSON Lines from `input`, skipping lines before `from_line`
/// (1-based), and applies them in chunks of at most 1,000 entities and
/// 1,000 relationships. `progress` is called after each chunk with the
/// bytes read so far.
///
/// # Errors
/// An unreadable input, or a chunk that fails for a reason other than its
/// items (the database unavailable, a conflict); the message names the
/// line to resume from.
pub async fn import(
    services: &Services,
    ctx: &RequestContext,
    input: impl BufRead,
    from_line: u64,
    mut progress: impl FnMut(u64, &ImportSummary),
) -> anyhow::Result<ImportSummary> {
    let mut summary = ImportSummary::default();
    let mut chunk = Chunk::default();
    let mut bytes = 0u64;
    for (n, line) in input.lines().enumerate() {
        let number = n as u64 + 1;
        let line = line.with_context(|| format!("reading line {number}"))?;
        bytes += line.len() as u64 + 1;
        summary.lines = number;
        if number < from_line || line.trim().is_empty() {
            continue;
        }
        let mut value: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                summary.failed.push((number, format!("not JSON: {e}")));
                continue;
            }
        };
        let kind = value
            .as_object_mut()
            .and_then(|m| m.remove("record"))
            .and_then(|r| r.as_str().map(str::to_owned));
        match kind.as_deref() {
            Some("entity") => chunk.entities.push((number, value)),
            Some("relationship") => {
                // Entities of the file come first; apply them before the
                // relationships that name them.
                if !chunk.entities.is_empty() && chunk.relationships.is_empty() {
                    apply_chunk(services, ctx, std::mem::take(&mut chunk), &mut summary).await?;
                    progress(bytes, &summary);
                }
                chunk.relationships.push((number, value));
            }
            _ => summary.failed.push((
                number,
                "record must be \"entity\" or \"relationship\"".to_owned(),
            )),
        }
        if chunk.is_full() {
            apply_chunk(services, ctx, std::mem::take(&mut chunk), &mut summary).await?;
            progress(bytes, &summary);
        }
    }
    apply_chunk(services, ctx, chunk, &mut summary).await?;
    progress(bytes, &summary);
    summary.failed.sort();
    Ok(summary)
}
