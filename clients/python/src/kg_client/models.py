"""Request and response models of kg's HTTP API.

Generated from kg's /openapi.json by scripts/generate_models.py with
datamodel-code-generator: do not edit by hand; CI fails when this file and
the document differ.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel


class AddEvidenceRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    confidence: float | None = Field(None, ge=0.0, le=1.0)
    """
    How sure the source is, from 0 to 1. A confidence, a source or both.
    """
    source: str | None = Field(None, max_length=500, min_length=1)
    """
    Where the statement was found.
    """
    source_type: str | None = Field(None, pattern="^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
    locator: dict[str, Any] | None = None
    """
    Where in the source (document, span, quote…): a JSON object, bounded
    as metadata is.
    """
    observed_at: AwareDatetime | None = None
    """
    When the source said it (RFC 3339); the time of recording when absent.
    """


class ApiKeyResponse(BaseModel):
    """
    A key as the API lists it: never the secret or its digest.
    """

    id: str
    name: str
    role: str
    created_by: str
    created_at: AwareDatetime
    expires_at: AwareDatetime | None
    revoked_at: AwareDatetime | None
    last_used_at: AwareDatetime | None


class AttributionResponse(BaseModel):
    """
    How sure the source of a fact is, where it came from, and its metadata.
    """

    confidence: float | None
    """
    From 0 to 1: how sure kg is of the fact, its writer's confidence
    combined with that of the evidence added for it (noisy-OR).
    """
    stated_confidence: float | None
    """
    The confidence its writer gave, which `confidence` equals while no
    evidence has been added.
    """
    source: str | None
    """
    Where the fact came from.
    """
    source_type: str | None
    """
    What kind of source that is.
    """
    metadata: Any
    """
    Free-form JSON metadata.
    """


class AuditResponse(BaseModel):
    """
    One audit row as the API shows it.
    """

    seq: int
    at: AwareDatetime
    actor_id: str
    action: str
    target_type: str
    target_id: str
    request_id: str | None
    changes: Any


class BatchItem(BaseModel):
    """
    What became of one item.
    """

    index: int = Field(..., ge=0)
    """
    The item's position in its list.
    """
    outcome: str
    """
    `created`, `updated`, `corroborated` (an existing fact, stated by
    another source, gained this item's source as evidence) or
    `unchanged`: what would happen, on a dry run.
    """
    id: str
    version: int


class BatchRelationship(BaseModel):
    """
    A relationship in a batch: each end by id or by `external_id`, not both.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    source_id: UUID | None = None
    source_external_id: str | None = None
    target_id: UUID | None = None
    target_external_id: str | None = None
    type: str = Field(..., pattern="^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
    confidence: float | None = Field(None, ge=0.0, le=1.0)
    source: str | None = None
    source_type: str | None = None
    metadata: dict[str, Any] | None = None


class BatchSummary(BaseModel):
    """
    How many items had each outcome.
    """

    created: int = Field(..., ge=0)
    updated: int = Field(..., ge=0)
    corroborated: int = Field(..., ge=0)
    unchanged: int = Field(..., ge=0)


class ChangeResponse(BaseModel):
    seq: int
    at: AwareDatetime
    resource_type: str
    resource_id: str
    action: str
    version: int
    data: Any


class CookieSessionResponse(BaseModel):
    """
    What a cookie login or refresh answers in its body: no token at all.
    """

    token_type: str
    expires_in: int
    refresh_expires_in: int
    csrf_token: str


class CreateApiKeyRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    name: str = Field(..., max_length=100, min_length=1)
    role: str = Field(..., pattern="^(editor|viewer)$")
    """
    API keys act as editors or viewers, never as admins.
    """
    expires_at: AwareDatetime | None = None


class CreateEntityRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    type: str = Field(..., pattern="^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
    name: str = Field(..., max_length=200, min_length=1)
    external_id: str | None = Field(None, max_length=200, min_length=1)
    confidence: float | None = Field(None, ge=0.0, le=1.0)
    source: str | None = Field(None, max_length=500, min_length=1)
    source_type: str | None = Field(None, pattern="^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
    metadata: dict[str, Any] | None = None


class CreateRelationshipRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    source_id: UUID
    target_id: UUID
    type: str = Field(..., pattern="^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
    confidence: float | None = Field(None, ge=0.0, le=1.0)
    source: str | None = Field(None, max_length=500, min_length=1)
    source_type: str | None = Field(None, pattern="^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
    metadata: dict[str, Any] | None = None


class CreateUserRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    email: str = Field(..., max_length=254)
    password: str = Field(..., max_length=128, min_length=12)
    """
    12 to 128 characters.
    """
    role: str = Field(..., pattern="^(admin|editor|viewer)$")


class CreatedResponse(ApiKeyResponse):
    secret: str
    """
    The secret: shown in this response only.
    """


class EntityPatch(BaseModel):
    """
    A JSON merge patch (RFC 7396) of an entity: members set to `null` clear
    optional fields, `metadata` merges recursively.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    type: str | None = Field(None, pattern="^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
    name: str | None = None
    external_id: str | None = None
    confidence: float | None = Field(None, ge=0.0, le=1.0)
    source: str | None = None
    source_type: str | None = None
    metadata: dict[str, Any] | None = None
    """
    Merged into the stored metadata; a member set to `null` is removed.
    """


class EntityResponse(AttributionResponse):
    """
    An entity as the API shows it.
    """

    id: str
    """
    Its id.
    """
    type: str
    """
    Its type.
    """
    name: str
    """
    Its name.
    """
    external_id: str | None
    """
    The caller's key for it, unique among live entities.
    """
    created_at: AwareDatetime
    """
    When it was created.
    """
    created_by: str
    """
    Who created it.
    """
    updated_at: AwareDatetime
    """
    When it last changed.
    """
    updated_by: str
    """
    Who changed it last.
    """
    version: int
    """
    Its version, which `If-Match` names.
    """


class EvidenceResponse(BaseModel):
    """
    Evidence as the API shows it.
    """

    id: str
    """
    Its id; a fact's stated evidence has the fact's id.
    """
    fact_type: str
    """
    `entity` or `relationship`.
    """
    fact_id: str
    """
    The fact it supports.
    """
    stated: bool
    """
    Whether it is the fact's own confidence and source, as its writer
    last gave them: it changes with the fact, not on its own.
    """
    confidence: float | None
    """
    From 0 to 1.
    """
    source: str | None
    """
    Where the statement was found.
    """
    source_type: str | None
    """
    What kind of source that is.
    """
    locator: Any
    """
    Where in the source (document, span, quote…).
    """
    observed_at: AwareDatetime
    """
    When the source said it.
    """
    recorded_at: AwareDatetime
    """
    When it was recorded.
    """
    recorded_by: str
    """
    Who recorded it.
    """
    retracted_at: AwareDatetime | None
    """
    When it was retracted; `null` while it counts.
    """
    retracted_by: str | None
    """
    Who retracted it.
    """
    version: int
    """
    1 when recorded, one more on each change.
    """


class FieldError(BaseModel):
    """
    One field's problem: where it is and what is wrong with it.
    """

    field: str
    """
    The field's path, such as `metadata` or `entities[3].name`.
    """
    message: str


class Live(BaseModel):
    """
    The liveness answer.
    """

    status: str
    """
    Always `ok`.
    """


class ModeResponse(BaseModel):
    """
    The switch's position.
    """

    mode: str
    """
    `off`, `read_only` or `maintenance`.
    """
    changed_at: AwareDatetime | None
    """
    When it was last set; `null` if never.
    """
    changed_by: str | None
    """
    Who last set it; `null` if never.
    """
    refresh_seconds: int = Field(..., ge=0)
    """
    How long an instance may take to obey a change.
    """


class Item(BaseModel):
    """
    A key as the API lists it: never the secret or its digest.
    """

    id: str
    name: str
    role: str
    created_by: str
    created_at: AwareDatetime
    expires_at: AwareDatetime | None
    revoked_at: AwareDatetime | None
    last_used_at: AwareDatetime | None


class PageResponseApiKeyResponse(BaseModel):
    """
    A list response: one page and the cursor of the next.
    """

    items: list[Item]
    next_cursor: str | None
    """
    Pass as `cursor` for the next page; `null` on the last.
    """


class Item1(AttributionResponse):
    """
    An entity as the API shows it.
    """

    id: str
    """
    Its id.
    """
    type: str
    """
    Its type.
    """
    name: str
    """
    Its name.
    """
    external_id: str | None
    """
    The caller's key for it, unique among live entities.
    """
    created_at: AwareDatetime
    """
    When it was created.
    """
    created_by: str
    """
    Who created it.
    """
    updated_at: AwareDatetime
    """
    When it last changed.
    """
    updated_by: str
    """
    Who changed it last.
    """
    version: int
    """
    Its version, which `If-Match` names.
    """


class PageResponseEntityResponse(BaseModel):
    """
    A list response: one page and the cursor of the next.
    """

    items: list[Item1]
    next_cursor: str | None
    """
    Pass as `cursor` for the next page; `null` on the last.
    """


class Item2(BaseModel):
    """
    Evidence as the API shows it.
    """

    id: str
    """
    Its id; a fact's stated evidence has the fact's id.
    """
    fact_type: str
    """
    `entity` or `relationship`.
    """
    fact_id: str
    """
    The fact it supports.
    """
    stated: bool
    """
    Whether it is the fact's own confidence and source, as its writer
    last gave them: it changes with the fact, not on its own.
    """
    confidence: float | None
    """
    From 0 to 1.
    """
    source: str | None
    """
    Where the statement was found.
    """
    source_type: str | None
    """
    What kind of source that is.
    """
    locator: Any
    """
    Where in the source (document, span, quote…).
    """
    observed_at: AwareDatetime
    """
    When the source said it.
    """
    recorded_at: AwareDatetime
    """
    When it was recorded.
    """
    recorded_by: str
    """
    Who recorded it.
    """
    retracted_at: AwareDatetime | None
    """
    When it was retracted; `null` while it counts.
    """
    retracted_by: str | None
    """
    Who retracted it.
    """
    version: int
    """
    1 when recorded, one more on each change.
    """


class PageResponseEvidenceResponse(BaseModel):
    """
    A list response: one page and the cursor of the next.
    """

    items: list[Item2]
    next_cursor: str | None
    """
    Pass as `cursor` for the next page; `null` on the last.
    """


class Item3(AttributionResponse):
    """
    A relationship as the API shows it.
    """

    id: str
    """
    Its id.
    """
    source_id: str
    """
    The entity it starts from.
    """
    target_id: str
    """
    The entity it points at.
    """
    type: str
    """
    Its type.
    """
    created_at: AwareDatetime
    """
    When it was created.
    """
    created_by: str
    """
    Who created it.
    """
    updated_at: AwareDatetime
    """
    When it last changed.
    """
    updated_by: str
    """
    Who changed it last.
    """
    version: int
    """
    Its version, which `If-Match` names.
    """


class PageResponseRelationshipResponse(BaseModel):
    """
    A list response: one page and the cursor of the next.
    """

    items: list[Item3]
    next_cursor: str | None
    """
    Pass as `cursor` for the next page; `null` on the last.
    """


class Item4(BaseModel):
    """
    A user as the API shows it. There is deliberately no field for the hash.
    """

    id: str
    email: str
    role: str
    is_active: bool
    created_at: AwareDatetime
    updated_at: AwareDatetime
    version: int


class PageResponseUserResponse(BaseModel):
    """
    A list response: one page and the cursor of the next.
    """

    items: list[Item4]
    next_cursor: str | None
    """
    Pass as `cursor` for the next page; `null` on the last.
    """


class PasswordRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    current_password: str
    new_password: str = Field(..., max_length=128, min_length=12)
    """
    12 to 128 characters.
    """


class Problem(BaseModel):
    """
    An RFC 9457 problem: the one body every error response carries, as
    `application/problem+json`.
    """

    type: str
    """
    `urn:kg:problem:<code>`.
    """
    title: str
    status: int = Field(..., ge=0)
    """
    The HTTP status, repeated.
    """
    detail: str
    """
    What went wrong, for a person to read.
    """
    code: Literal[
        "malformed_json",
        "bad_request",
        "unauthenticated",
        "invalid_credentials",
        "invalid_refresh_token",
        "session_expired",
        "forbidden",
        "csrf_token_invalid",
        "route_not_found",
        "entity_not_found",
        "relationship_not_found",
        "evidence_not_found",
        "user_not_found",
        "api_key_not_found",
        "method_not_allowed",
        "external_id_taken",
        "duplicate_relationship",
        "email_taken",
        "last_active_admin",
        "cannot_modify_self",
        "not_deleted",
        "not_retracted",
        "fact_not_live",
        "evidence_stated",
        "restore_conflict",
        "idempotency_key_in_flight",
        "idempotency_key_reused",
        "precondition_failed",
        "payload_too_large",
        "unsupported_media_type",
        "validation_failed",
        "relationship_endpoint_not_live",
        "precondition_required",
        "login_throttled",
        "rate_limited",
        "internal_error",
        "service_unavailable",
        "database_unavailable",
        "not_ready",
        "read_only",
        "maintenance",
    ]
    """
    The stable, machine-readable code.
    """
    request_id: str | None = None
    """
    The request's id, as in the `X-Request-Id` header.
    """
    errors: list[FieldError] | None = None
    """
    Each field's problem, on 422 `validation_failed`.
    """


class ReadyChecks(BaseModel):
    """
    Each check readiness makes, all `ok` when ready.
    """

    database: str
    schema_: str = Field(..., alias="schema")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    refresh_token: str | None = None


class RelationshipPatch(BaseModel):
    """
    A JSON merge patch (RFC 7396) of a relationship. Its ends cannot change.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    type: str | None = Field(None, pattern="^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
    confidence: float | None = Field(None, ge=0.0, le=1.0)
    source: str | None = None
    source_type: str | None = None
    metadata: dict[str, Any] | None = None
    """
    Merged into the stored metadata; a member set to `null` is removed.
    """


class RelationshipResponse(AttributionResponse):
    """
    A relationship as the API shows it.
    """

    id: str
    """
    Its id.
    """
    source_id: str
    """
    The entity it starts from.
    """
    target_id: str
    """
    The entity it points at.
    """
    type: str
    """
    Its type.
    """
    created_at: AwareDatetime
    """
    When it was created.
    """
    created_by: str
    """
    Who created it.
    """
    updated_at: AwareDatetime
    """
    When it last changed.
    """
    updated_by: str
    """
    Who changed it last.
    """
    version: int
    """
    Its version, which `If-Match` names.
    """


class Restored(BaseModel):
    entity: EntityResponse
    relationships: list[RelationshipResponse]


class SetMode(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    mode: str = Field(..., pattern="^(off|read_only|maintenance)$")
    """
    `off`, `read_only` (writes answer 503) or `maintenance` (everything
    but health, sign-in and this switch answers 503).
    """


class TokenRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    email: str
    password: str
    cookie: bool | None = None
    """
    Ask for a cookie session instead of tokens in the body.
    """


class TokenResponse(BaseModel):
    """
    The tokens of a bearer session.
    """

    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class UserPatch(BaseModel):
    """
    A JSON merge patch (RFC 7396) of an account's role and state.
    """

    model_config = ConfigDict(
        extra="forbid",
    )
    role: str | None = Field(None, pattern="^(admin|editor|viewer)$")
    is_active: bool | None = None


class UserResponse(BaseModel):
    """
    A user as the API shows it. There is deliberately no field for the hash.
    """

    id: str
    email: str
    role: str
    is_active: bool
    created_at: AwareDatetime
    updated_at: AwareDatetime
    version: int


class AddedEvidence(BaseModel):
    evidence: EvidenceResponse
    confidence: float | None
    """
    The fact's combined confidence now.
    """


class AuditPageResponse(BaseModel):
    """
    A page of audit rows.
    """

    items: list[AuditResponse]
    next_cursor: str | None


class BatchReportResponse(BaseModel):
    """
    The answer: every item's outcome, in order, and a summary.
    """

    dry_run: bool
    summary: BatchSummary
    entities: list[BatchItem]
    relationships: list[BatchItem]


class BatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    entities: list[CreateEntityRequest] | None = None
    """
    Up to 1,000 entities, each upserted by its `external_id` if it has one.
    """
    relationships: list[BatchRelationship] | None = None
    """
    Up to 1,000 relationships.
    """


class ChangePageResponse(BaseModel):
    """
    A page of the feed; `next_cursor` is always present, so a consumer can
    poll with it even when nothing is new.
    """

    items: list[ChangeResponse]
    next_cursor: str


class DuplicateResponse(BaseModel):
    """
    One candidate.
    """

    score: float
    """
    From 0.3 to 1: the trigram similarity of the case-folded names (as
    PostgreSQL's `pg_trgm` computes it), 1 for names that fold alike.
    """
    same_name: bool
    """
    Whether the case-folded names are the same.
    """
    entity: EntityResponse


class DuplicatesResponse(BaseModel):
    """
    The candidates, best first.
    """

    items: list[DuplicateResponse]


class NeighborhoodResponse(BaseModel):
    nodes: list[EntityResponse]
    edges: list[RelationshipResponse]
    truncated: bool
    """
    Whether any budget cut the traversal short.
    """
    truncated_by: list[str]
    """
    The budgets that did, in this order: `nodes` (the node budget
    filled), `edges` (2 × `max_nodes` edges), `rows` (a level left a
    node's relationships unread: more than its share, or more than a
    filtered level examines), `time` (the traversal's time budget ran
    out). Empty when `truncated` is false.
    """


class Ready(BaseModel):
    """
    The readiness answer.
    """

    status: str
    """
    Always `ready`.
    """
    mode: str
    """
    `off`, `read_only` or `maintenance`.
    """
    checks: ReadyChecks


class SessionResponse(RootModel[TokenResponse | CookieSessionResponse]):
    root: TokenResponse | CookieSessionResponse
    """
    What a login or a refresh answers: tokens, or for a cookie session the
    anti-CSRF token that goes with its cookies.
    """
