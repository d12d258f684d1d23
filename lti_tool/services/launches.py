"""Write what a validated launch says: user, course (context), membership, resource link.

Called only after the launch is fully validated (nothing is written for a refused launch). Rows are upserted with
``INSERT ... ON CONFLICT DO NOTHING`` so two first launches of the same user at once cannot collide.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lti_tool.lti import claims as c
from lti_tool.models import Context, Deployment, Membership, Registration, ResourceLink, User

_MAX = {"name": 255, "given_name": 255, "family_name": 255, "email": 320, "locale": 32}


@dataclass(frozen=True)
class LaunchRows:
    user: User
    context: Context | None
    membership: Membership | None
    resource_link: ResourceLink | None


@functools.cache
def _lookup(model: type, names: tuple[str, ...]) -> Select:
    """``SELECT model WHERE name = :name ...``, built once per model and key set (statement building is the
    costly part of a query at launch rates)."""
    return select(model).where(*(getattr(model, n) == bindparam(n) for n in names))


def _get_or_create(session: Session, model: Any, keys: dict[str, Any], defaults: dict[str, Any] | None = None):
    """Return the row with ``keys``, inserting it first (atomically, ignoring a concurrent insert) if needed."""
    stmt = _lookup(model, tuple(sorted(keys)))
    row = session.scalars(stmt, keys).first()
    if row is not None:
        return row
    session.flush()
    values = {**(defaults or {}), **keys}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(model.__table__).values(**values).on_conflict_do_nothing())
    return session.scalars(stmt.execution_options(populate_existing=True), keys).one()


# A repeat launch (the common case) finds its user, course, membership and link with this one query.
_KNOWN = (
    select(User, Context, Membership, ResourceLink)
    .select_from(User)
    .outerjoin(Context, and_(Context.deployment_id == bindparam("deployment_id"),
                             Context.context_id == bindparam("context_id")))
    .outerjoin(Membership, and_(Membership.context_id == Context.id, Membership.user_id == User.id))
    .outerjoin(ResourceLink, and_(ResourceLink.context_id == Context.id,
                                  ResourceLink.resource_link_id == bindparam("resource_link_id")))
    .where(User.registration_id == bindparam("registration_id"), User.sub == bindparam("sub"))
    .limit(1)
)


def _known_rows(session: Session, reg: Registration, deployment: Deployment, claims: dict[str, Any], *,
                context_id: str, link_id: str | None) -> tuple[Any, Any, Any, Any]:
    row = session.execute(_KNOWN, {
        "registration_id": reg.id, "sub": str(claims["sub"]), "deployment_id": deployment.id,
        "context_id": context_id, "resource_link_id": link_id,
    }).first()
    if row is None:
        return (None, None, None, None)
    return (row[0], row[1], row[2], row[3])


def _set(row: Any, **values: Any) -> None:
    """Assign only what changed: an unchanged row stays clean, so the flush has nothing to compare or write."""
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)


def _str(value: Any, limit: int) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[:limit]


def upsert_user(session: Session, reg: Registration, claims: dict[str, Any], is_test_user: bool,
                user: User | None = None) -> User:
    if user is None:
        user = _get_or_create(session, User, {"registration_id": reg.id, "sub": str(claims["sub"])},
                              {"is_test_user": is_test_user})
    # Platforms send personal data according to their privacy settings: keep what this launch did not send.
    for field, limit in _MAX.items():
        value = _str(claims.get(field), limit)
        if value is not None:
            _set(user, **{field: value})
    if is_test_user:
        _set(user, is_test_user=True)
    return user


def _services(claims: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    services = dict(previous or {})
    ags = claims.get(c.AGS_ENDPOINT)
    if isinstance(ags, dict):
        services["ags"] = {k: ags[k] for k in ("scope", "lineitems", "lineitem") if k in ags}
    nrps = claims.get(c.NRPS)
    if isinstance(nrps, dict):
        services["nrps"] = {k: nrps[k] for k in ("context_memberships_url", "service_versions") if k in nrps}
    return services


def record_launch(
    session: Session,
    reg: Registration,
    deployment: Deployment,
    claims: dict[str, Any],
    *,
    roles: list[str],
    is_instructor: bool,
    is_learner: bool,
    is_test_user: bool,
) -> LaunchRows:
    context_claim = claims.get(c.CONTEXT)
    if not isinstance(context_claim, dict) or not context_claim.get("id"):
        user = upsert_user(session, reg, claims, is_test_user)
        session.flush()
        return LaunchRows(user, None, None, None)
    context_id = str(context_claim["id"])[:255]
    link_claim = claims.get(c.RESOURCE_LINK)
    link_id = None
    if claims.get(c.MESSAGE_TYPE) == c.RESOURCE_LINK_REQUEST and isinstance(link_claim, dict):
        link_id = str(link_claim["id"])[:255]
    known_user, known_context, known_membership, known_link = _known_rows(
        session, reg, deployment, claims, context_id=context_id, link_id=link_id)
    user = upsert_user(session, reg, claims, is_test_user, known_user)

    context = known_context or _get_or_create(session, Context, {"deployment_id": deployment.id,
                                                                 "context_id": context_id})
    _set(context, label=_str(context_claim.get("label"), 255) or context.label,
         title=_str(context_claim.get("title"), 512) or context.title,
         services=_services(claims, context.services))

    membership = known_membership or _get_or_create(
        session, Membership, {"context_id": context.id, "user_id": user.id},
        {"roles": [], "is_instructor": False, "is_learner": False, "status": "active", "source": "launch"})
    _set(membership, roles=list(roles), is_instructor=is_instructor, is_learner=is_learner, status="active")

    resource_link = None
    if link_id is not None and isinstance(link_claim, dict):
        resource_link = known_link or _get_or_create(session, ResourceLink, {"context_id": context.id,
                                                                             "resource_link_id": link_id})
        _set(resource_link, title=_str(link_claim.get("title"), 512) or resource_link.title)
        custom = claims.get(c.CUSTOM)
        if isinstance(custom, dict):
            _set(resource_link, custom={str(k): v for k, v in custom.items()})
        ags = claims.get(c.AGS_ENDPOINT)
        if isinstance(ags, dict) and isinstance(ags.get("lineitem"), str):
            _set(resource_link, lineitem_url=ags["lineitem"][:1024])
    session.flush()
    return LaunchRows(user, context, membership, resource_link)
