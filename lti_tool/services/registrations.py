"""Platform registrations and their deployments: what school IT manages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlparse

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, selectinload

from lti_tool.models import Attempt, Deployment, Item, ItemBank, Registration, User
from lti_tool.models.lti import ACTIVE, AUTO_ADD, DISABLED, PENDING, REJECT

POLICIES = (AUTO_ADD, REJECT)


class RegistrationError(ValueError):
    """Bad input for a registration; the message is safe to show to an admin."""


@dataclass(frozen=True)
class DeploymentCheck:
    deployment: Deployment | None
    created: bool


def _check_url(name: str, url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise RegistrationError(f"{name} must be an absolute http(s) URL, got {url!r}")
    return url


def add(
    session: Session,
    *,
    issuer: str,
    client_id: str,
    auth_login_url: str,
    auth_token_url: str,
    jwks_url: str,
    deployment_ids: Iterable[str] = (),
    name: str = "",
    auth_audience: str | None = None,
    status: str = ACTIVE,
    unknown_deployment_policy: str = REJECT,
    source: str = "manual",
    product_family: str | None = None,
) -> Registration:
    if not issuer or not client_id:
        raise RegistrationError("issuer and client_id are required")
    _check_url("issuer", issuer)
    for label, url in (("auth login URL", auth_login_url), ("auth token URL", auth_token_url), ("JWKS URL", jwks_url)):
        _check_url(label, url)
    if unknown_deployment_policy not in POLICIES:
        raise RegistrationError(f"unknown deployment policy {unknown_deployment_policy!r}; use one of {POLICIES}")
    if get(session, issuer, client_id) is not None:
        raise RegistrationError(f"a registration for issuer {issuer!r} and client id {client_id!r} already exists")
    reg = Registration(
        issuer=issuer,
        client_id=client_id,
        name=name or urlparse(issuer).netloc,
        auth_login_url=auth_login_url,
        auth_token_url=auth_token_url,
        auth_audience=auth_audience,
        jwks_url=jwks_url,
        status=status,
        unknown_deployment_policy=unknown_deployment_policy,
        source=source,
        product_family=product_family,
    )
    for dep in dict.fromkeys(d for d in deployment_ids if d):
        reg.deployments.append(Deployment(deployment_id=dep))
    session.add(reg)
    session.flush()
    return reg


# Built once: every launch runs these, and building a statement costs more CPU than SQLite takes to answer it.
_BY_ISSUER_AND_CLIENT = select(Registration).where(
    Registration.issuer == bindparam("issuer"), Registration.client_id == bindparam("client_id")).limit(1)
_DEPLOYMENT = select(Deployment).where(
    Deployment.registration_id == bindparam("registration_id"),
    Deployment.deployment_id == bindparam("deployment_id")).limit(1)


def get(session: Session, issuer: str, client_id: str) -> Registration | None:
    return session.scalars(_BY_ISSUER_AND_CLIENT, {"issuer": issuer, "client_id": client_id}).first()


def get_by_id(session: Session, registration_id: int) -> Registration | None:
    return session.get(Registration, registration_id)


def find_for_login(session: Session, issuer: str, client_id: str | None) -> Registration | None:
    """Login initiation may omit client_id; then the issuer must identify exactly one registration."""
    if client_id:
        return get(session, issuer, client_id)
    regs = session.scalars(select(Registration).where(Registration.issuer == issuer)).all()
    return regs[0] if len(regs) == 1 else None


def list_all(session: Session) -> list[Registration]:
    return list(
        session.scalars(
            select(Registration).options(selectinload(Registration.deployments)).order_by(Registration.id)
        )
    )


def resolve(session: Session, issuer: str, client_id: str) -> Registration:
    reg = get(session, issuer, client_id)
    if reg is None:
        raise RegistrationError(f"no registration for issuer {issuer!r} and client id {client_id!r}")
    return reg


@dataclass(frozen=True)
class RemovedBank:
    """An item bank whose trained engine (registry folder, named by id and slug) must go with a registration."""

    id: int
    slug: str


@dataclass(frozen=True)
class Removal:
    """What :func:`remove` deleted that lives outside the database too.

    ``banks``: the registration's own item banks (deleted). ``shared_banks``: global banks its students answered
    in (kept, their answers deleted): their engines and calibrated difficulties were fitted on those answers."""

    banks: list[RemovedBank]
    shared_banks: list[RemovedBank]


def remove(session: Session, issuer: str, client_id: str) -> Removal:
    """Delete a registration and, by cascade, everything under it (its users and their answers included).

    The global banks its students answered in lose their calibrated item difficulties here (the authors' seeds
    stand until the next training); their trained engines, like the deleted banks' (registry folders, outside the
    database), are the caller's to delete once the transaction has committed."""
    reg = resolve(session, issuer, client_id)
    owned = session.scalars(select(ItemBank).where(ItemBank.registration_id == reg.id))
    banks = [RemovedBank(b.id, b.slug) for b in owned]
    answered = select(Attempt.bank_id).join(User, User.id == Attempt.user_id).where(User.registration_id == reg.id)
    shared = session.scalars(
        select(ItemBank).where(ItemBank.registration_id.is_(None), ItemBank.id.in_(answered)).order_by(ItemBank.id)
    ).all()
    shared_banks = [RemovedBank(b.id, b.slug) for b in shared]
    if shared_banks:
        session.execute(update(Item).where(Item.bank_id.in_([b.id for b in shared_banks]))
                        .values(calibrated_difficulty=None))
    session.delete(reg)
    session.flush()
    return Removal(banks, shared_banks)


def approve(session: Session, issuer: str, client_id: str) -> Registration:
    reg = resolve(session, issuer, client_id)
    reg.status = ACTIVE
    session.flush()
    return reg


def disable(session: Session, issuer: str, client_id: str) -> Registration:
    reg = resolve(session, issuer, client_id)
    reg.status = DISABLED
    session.flush()
    return reg


def set_policy(session: Session, reg: Registration, policy: str) -> None:
    if policy not in POLICIES:
        raise RegistrationError(f"unknown deployment policy {policy!r}; use one of {POLICIES}")
    reg.unknown_deployment_policy = policy
    session.flush()


def add_deployment(session: Session, reg: Registration, deployment_id: str, *, auto: bool = False) -> Deployment:
    existing = find_deployment(session, reg, deployment_id)
    if existing is not None:
        return existing
    dep = Deployment(registration_id=reg.id, deployment_id=deployment_id, auto_added=auto)
    session.add(dep)
    session.flush()
    return dep


def find_deployment(session: Session, reg: Registration, deployment_id: str) -> Deployment | None:
    return session.scalars(_DEPLOYMENT, {"registration_id": reg.id, "deployment_id": deployment_id}).first()


def check_deployment(session: Session, reg: Registration, deployment_id: str) -> DeploymentCheck:
    """Known deployment -> it; unknown -> auto-added or ``None`` per the registration's policy."""
    dep = find_deployment(session, reg, deployment_id)
    if dep is not None:
        return DeploymentCheck(dep, created=False)
    if reg.unknown_deployment_policy == AUTO_ADD:
        return DeploymentCheck(add_deployment(session, reg, deployment_id, auto=True), created=True)
    return DeploymentCheck(None, created=False)


__all__ = [
    "ACTIVE",
    "AUTO_ADD",
    "DISABLED",
    "PENDING",
    "REJECT",
    "DeploymentCheck",
    "RegistrationError",
]
