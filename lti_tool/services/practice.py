"""Practice: ties the engine, the item bank, attempts and grades together (the hot path of the tool).

``next_item`` serves the item the policy picks (or the one already on screen: resume), recording the exact variant
shown. ``submit_answer`` grades an answer against that record and, in ONE transaction, writes the attempt, the
learner's updated engine state, the enrolment's progress and score, and the score's outbox row
(``grades.record_score``); then the next item is served right away. The LMS is never waited for: a job delivers
the outbox row.

Every function takes the caller's :class:`~lti_tool.lti.session.LtiSession`; rows are looked up through the
caller's (registration -> deployment -> context -> resource link); an id from the client that is not the caller's
is "not found".
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adaptive import Response, StaleStateError, State
from adaptive.policy import (
    LearnerView,
    Pick,
    PolicyConfig,
    PolicyItem,
    choose,
    combined_mastery,
    skills_mastered,
    weak_skills,
)
from lti_tool.logs import get_logger
from lti_tool.models import Context, Deployment, Item, ItemBank, Membership, ResourceLink, Skill, User, utcnow
from lti_tool.models.practice import (
    ADAPTIVE,
    LINK_SCOPE,
    REVIEW,
    Attempt,
    LearnerState,
    PracticeEnrolment,
    ReviewAssignment,
    ServedItem,
    review_scope,
)
from lti_tool.services import answers, items, row_id
from lti_tool.services.engine import Engine, EngineFor, engine_item_id

log = get_logger(__name__)

API_VERSION = "1"
SCORING_MASTERY = "mastery"
SCORING_CORRECT = "share_correct"
RECENT_KEPT = 10
REVIEW_KEY = "review_assignment"  # ResourceLink.settings / custom: the review assignment this link opens
REVIEW_LAUNCH_PARAM = "review"  # ?review=<id> on the review's Canvas launch URL (its target_link_uri)


class PracticeError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class NotFound(PracticeError):
    status = 404
    code = "not_found"


class NoActivity(PracticeError):
    status = 409
    code = "no_activity"


class InvalidAnswer(PracticeError):
    status = 422
    code = "invalid_answer"


# --------------------------------------------------------------------------------------------- activities
@dataclasses.dataclass
class Activity:
    """What a resource link asks of its learners (from deep linking's custom parameters / settings)."""

    link: ResourceLink
    context: Context
    bank: ItemBank
    skills: list[Skill]  # the bank's, in bank order
    goal_skills: list[str]  # keys
    scoring: str
    mastery_threshold: float
    band: tuple[float, float]
    prerequisites: dict[str, list[str]]
    review_id: int | None = None  # the review assignment this launch opened (its own LMS assignment), if any

    @property
    def policy(self) -> PolicyConfig:
        return PolicyConfig(band=self.band, mastery_threshold=self.mastery_threshold)

    def skill_names(self, locale: str | None) -> dict[str, str]:
        return {s.key: str(items.localize(s.name, locale)) for s in self.skills}


def _float(value: Any, default: float, lo: float, hi: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return default
    return min(max(v, lo), hi) if math.isfinite(v) else default  # nan would pass min/max unchanged


def _band(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split("-"))
    except ValueError:
        return (0.6, 0.8)
    return (lo, hi) if 0 <= lo <= hi <= 1 else (0.6, 0.8)


def load_activity(session: Session, lti_session: Any, settings: Any) -> Activity:
    """The caller's resource link and its activity; raises :class:`NoActivity` when there is none."""
    if lti_session.resource_link_id is None or lti_session.context_id is None:
        raise NoActivity("this launch is not an activity (no resource link)")
    link, context, review_id = resolve_link(session, lti_session)
    conf = {**(link.custom or {}), **(link.settings or {})}
    found = link_bank(session, link, lti_session.registration_id)
    if found is None:
        raise NoActivity("this activity has no item bank: ask your instructor to choose one in the activity settings")
    bank, skills, goal = found
    scoring = SCORING_CORRECT if conf.get("scoring") == SCORING_CORRECT else SCORING_MASTERY
    threshold = _float(conf.get("mastery_threshold"), settings.practice_mastery_threshold, 0.5, 0.99)
    return Activity(link, context, bank, skills, goal, scoring, threshold, _band(settings.practice_band),
                    items.prerequisites(session, bank.id), review_id)


def link_bank(session: Session, link: ResourceLink, registration_id: int
              ) -> tuple[ItemBank, list[Skill], list[str]] | None:
    """The item bank of ``link``'s adaptive activity, its skills and the goal skills (keys); None when the link
    has no item bank (not an adaptive activity)."""
    conf = {**(link.custom or {}), **(link.settings or {})}
    slug = conf.get("item_bank")
    bank = items.get_bank(session, str(slug), registration_id) if slug else None
    if bank is None and not slug:
        banks = items.list_banks(session, registration_id)
        bank = banks[0] if len(banks) == 1 else None
    if bank is None:
        return None
    skills = items.bank_skills(session, bank.id)
    keys = [s.key for s in skills]
    raw_goal = conf.get("goal_skills")
    goal = keys
    if isinstance(raw_goal, list):
        goal = [k for k in raw_goal if k in keys] or keys
    elif raw_goal not in (None, ""):
        try:
            n = int(float(raw_goal))
        except (TypeError, ValueError, OverflowError):  # "inf" from the LMS: every skill, not a 500
            n = 0
        goal = keys[:n] if n > 0 else keys
    return bank, skills, goal


def _review_ref(conf: dict[str, Any]) -> int | None:
    raw = conf.get(REVIEW_KEY)
    try:
        return int(raw) if raw not in (None, "") else None
    except (TypeError, ValueError):
        return None


def resolve_link(session: Session, lti_session: Any) -> tuple[ResourceLink, Context, int | None]:
    """The caller's resource link and course, checked against the session's deployment; a link that opens a
    review assignment (its own LMS assignment, linked at launch) resolves to the activity the review belongs to,
    with the review's id. Raises :class:`NotFound` for anything that is not the caller's."""
    if lti_session.resource_link_id is None or lti_session.context_id is None:
        raise NoActivity("this launch is not an activity (no resource link)")
    link = session.get(ResourceLink, lti_session.resource_link_id)
    context = session.get(Context, lti_session.context_id)
    if link is None or context is None or link.context_id != context.id or \
            context.deployment_id != lti_session.deployment_id:
        raise NotFound("activity not found")
    review_id = _review_ref({**(link.custom or {}), **(link.settings or {})})
    if review_id is None:
        return link, context, None
    review = session.get(ReviewAssignment, review_id)
    if review is None or review.context_id != context.id:  # never another course's review
        return link, context, None
    if review.resource_link_id != link.id:
        origin = session.get(ResourceLink, review.resource_link_id)
        if origin is None or origin.context_id != context.id:
            return link, context, None
        link = origin
    return link, context, review.id


# --------------------------------------------------------------------------------------------- enrolments
def get_enrolment(session: Session, lti_session: Any, activity: Activity, review_id: int | None = None
                  ) -> PracticeEnrolment:
    """The caller's enrolment in the link's adaptive assignment (created on first use), or in a review."""
    if review_id is not None:
        enrolment = session.scalars(_enrolment_query(activity.link.id, lti_session.user_id,
                                                     review_scope(review_id))).first()
        if enrolment is None:
            raise NotFound("no review assignment for you here")
        return enrolment
    return ensure_enrolment(session, activity.link.id, lti_session.user_id, activity.bank.id, activity.goal_skills)


def _enrolment_query(link_id: int, user_id: int, scope: str) -> Any:
    return select(PracticeEnrolment).where(PracticeEnrolment.resource_link_id == link_id,
                                           PracticeEnrolment.user_id == user_id, PracticeEnrolment.scope == scope)


def ensure_enrolment(session: Session, link_id: int, user_id: int, bank_id: int, goal_skills: list[str]
                     ) -> PracticeEnrolment:
    """``user_id``'s enrolment in the link's own adaptive assignment, created when missing (safe against a
    concurrent request creating it)."""
    q = _enrolment_query(link_id, user_id, LINK_SCOPE)
    enrolment = session.scalars(q).first()
    if enrolment is not None:
        return enrolment
    enrolment = PracticeEnrolment(resource_link_id=link_id, user_id=user_id, scope=LINK_SCOPE,
                                  kind=ADAPTIVE, bank_id=bank_id, goal_skills=list(goal_skills))
    try:
        with session.begin_nested():
            session.add(enrolment)
    except IntegrityError:  # created by a concurrent request
        return session.scalars(q).one()
    return enrolment


def enrol_learners(session: Session, context_id: int, user_ids: list[int]) -> int:
    """Give each active learner member of ``context_id`` among ``user_ids`` (test users left out) an enrolment in
    every adaptive activity (resource link with an item bank) of the course; returns how many were created.

    Only the enrolment is written: the learner's engine state is the model's prior until their first answer
    (``load_learner`` rebuilds it from no attempts, and the first answer stores it), so no LearnerState row is
    needed, and none would survive a new champion model anyway."""
    context = session.get(Context, context_id)
    if context is None or not user_ids:
        return 0
    deployment = session.get(Deployment, context.deployment_id)
    if deployment is None:
        return 0
    learners = list(session.scalars(
        select(Membership.user_id).join(User, User.id == Membership.user_id)
        .where(Membership.context_id == context_id, Membership.user_id.in_(list(user_ids)),
               Membership.is_learner.is_(True), Membership.status == "active", User.is_test_user.is_(False))
    ))
    if not learners:
        return 0
    created = 0
    links = session.scalars(select(ResourceLink).where(ResourceLink.context_id == context_id)
                            .order_by(ResourceLink.id)).all()
    for link in links:
        if _review_ref({**(link.custom or {}), **(link.settings or {})}) is not None:
            continue  # opens a review of another link's activity: enrolments live on that link
        found = link_bank(session, link, deployment.registration_id)
        if found is None:
            continue
        bank, _skills, goal = found
        have = set(session.scalars(select(PracticeEnrolment.user_id).where(
            PracticeEnrolment.resource_link_id == link.id, PracticeEnrolment.scope == LINK_SCOPE,
            PracticeEnrolment.user_id.in_(learners))))
        for user_id in learners:
            if user_id not in have:
                ensure_enrolment(session, link.id, user_id, bank.id, goal)
                created += 1
    if created:
        log.info("roster_learners_enrolled", context_id=context_id, enrolments=created)
    return created


def course_banks(session: Session, lti_session: Any) -> list[ItemBank]:
    """The item banks the caller's course uses in its adaptive activities (links that open a review left out), in
    link order, each once; empty when the session has no course or the course is not the session's deployment's."""
    context = session.get(Context, lti_session.context_id) if lti_session.context_id is not None else None
    if context is None or context.deployment_id != lti_session.deployment_id:
        return []
    banks: dict[int, ItemBank] = {}
    for link in session.scalars(select(ResourceLink).where(ResourceLink.context_id == context.id)
                                .order_by(ResourceLink.id)):
        if _review_ref({**(link.custom or {}), **(link.settings or {})}) is not None:
            continue
        found = link_bank(session, link, lti_session.registration_id)
        if found is not None:
            banks.setdefault(found[0].id, found[0])
    return list(banks.values())


def _on_roster_members_added(sender: Any, *, session: Session, context_id: int, user_ids: list[int],
                             **_: Any) -> None:
    enrol_learners(session, context_id, user_ids)


def init_app(app: Any) -> None:
    """Practice subscribes to the roster: new learner members get their enrolments right away."""
    from lti_tool.signals import roster_members_added

    roster_members_added.connect(_on_roster_members_added, weak=False)


# --------------------------------------------------------------------------------------------- engine state
@dataclasses.dataclass
class Learner:
    row: LearnerState | None
    state: State
    record: dict[str, Any]
    n_attempts: int


def _history(session: Session, user_id: int, bank: ItemBank) -> list[Response]:
    rows = session.execute(
        select(Attempt.item_id, Attempt.skill_keys, Attempt.correct, Attempt.created_at, Item.key)
        .join(Item, Item.id == Attempt.item_id)
        .where(Attempt.user_id == user_id, Attempt.bank_id == bank.id).order_by(Attempt.id)
    ).all()
    return [Response(str(user_id), engine_item_id(bank.slug, r.key), tuple(r.skill_keys), int(r.correct),
                     r.created_at.timestamp()) for r in rows]


def load_learner(session: Session, engine: Engine, user_id: int, bank: ItemBank, *, for_update: bool = False
                 ) -> Learner:
    """The learner's engine state: the cached one when it is current, else the stored one, else rebuilt from the
    attempts (a new champion model, or a first answer)."""
    q = select(LearnerState).where(LearnerState.user_id == user_id, LearnerState.bank_id == bank.id,
                                   LearnerState.model_fingerprint == engine.fingerprint)
    if for_update:
        q = q.with_for_update()
    row = session.scalars(q).first()
    if row is not None:
        cached = engine.cached_state(user_id, bank.id, row.n_attempts)
        if cached is not None:
            return Learner(row, cached, dict(row.record or {}), row.n_attempts)
        try:
            state = State.from_json(row.state)
            if state.fingerprint != engine.fingerprint:
                raise StaleStateError("fingerprint")
            engine.remember_state(user_id, bank.id, row.n_attempts, state)
            return Learner(row, state, dict(row.record or {}), row.n_attempts)
        except StaleStateError:
            pass
    history = _history(session, user_id, bank)
    state = engine.model.state_from_history(history)
    record: dict[str, Any] = dict(row.record) if row is not None and row.record else {}
    if not record and history:
        last: dict[str, float] = {}
        for r in history:
            for s in r.skill_ids:
                last[s] = float(r.timestamp or 0.0)
        record = {"last_practiced": last, "recent_items": [r.item_id.split("/", 1)[1] for r in history[-RECENT_KEPT:]]}
    if "credit" not in record:
        # a new champion (another fingerprint) starts a new state row; what the learner was credited with under
        # the previous model carries over, so a retraining does not take mastery back
        previous = session.scalars(
            select(LearnerState.record).where(LearnerState.user_id == user_id, LearnerState.bank_id == bank.id,
                                              LearnerState.model_fingerprint != engine.fingerprint)
            .order_by(LearnerState.updated_at.desc(), LearnerState.id.desc()).limit(1)).first()
        if previous and previous.get("credit"):
            record["credit"] = dict(previous["credit"])
    return Learner(row, state, record, len(history))


def tracker_state(session: Session, engine: Engine, user_id: int, bank: ItemBank, n_attempts: int
                  ) -> dict[str, list[float]]:
    """The learner's per-skill tracker state (``engine.tracker``), folded over their attempts on the bank in order;
    cached on the engine per (user, bank) with the number of attempts and the tracker's fingerprint."""
    tracker = engine.tracker
    assert tracker is not None
    cached = engine.cached_tracker_state(user_id, bank.id, n_attempts)
    if cached is not None:
        return cached
    rows = session.execute(
        select(Attempt.skill_keys, Attempt.correct)
        .where(Attempt.user_id == user_id, Attempt.bank_id == bank.id).order_by(Attempt.id)
    ).all()
    state = tracker.state_from_answers((tuple(r.skill_keys or ()), int(r.correct)) for r in rows)
    engine.remember_tracker_state(user_id, bank.id, n_attempts, state)
    return state


def decision_mastery(engine: Engine, model_mastery: dict[str, tuple[float, float]],
                     tracked_state: dict[str, list[float]] | None, keys: list[str]
                     ) -> dict[str, tuple[float, float]]:
    """The mastery that decides (policy, mastered counts, progress, score, the learner's table): the model's
    P(correct) alone without a tracker, else :func:`adaptive.policy.combined_mastery` with ``criterion="auto"``
    (per skill by the tracker's fitted number of levels)."""
    tracker = engine.tracker
    if tracker is None:
        return model_mastery
    return combined_mastery(model_mastery, tracker.mastery(tracked_state or {}, keys), criterion="auto",
                            levels=tracker.fitted_levels())


def credited(mastery: dict[str, tuple[float, float]], record: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """``mastery`` with each skill held at its credit (see :func:`update_credit`), to four decimals: what the pages
    show, so every decision, count and text (the table's 70 % and the "why" line's) reads the same value."""
    credit = record.get("credit") or {}
    return {s: (round(max(p, float(credit.get(s, 0.0))), 4), u) for s, (p, u) in mastery.items()}


def update_credit(record: dict[str, Any], mastery: dict[str, tuple[float, float]], answered: Iterable[str],
                  correct: bool) -> dict[str, float]:
    """The credit of every skill after an answer on the skills ``answered``: the highest estimate so far, except
    that a wrong answer sets its own skills' credit to their new estimate. So a skill's mastery (and the score
    sent to the LMS) goes down only through that skill's own answers. The models share ability across skills:
    one wrong answer on percentages lowers every skill's estimate a little, and without a credit, skills at 0.81
    fell under a 0.8 threshold with it (8 of 11 mastered became 1 of 11, and the grade with it)."""
    credit = {k: float(v) for k, v in (record.get("credit") or {}).items()}
    lowered = set() if correct else set(answered)
    for skill, (estimate, _) in mastery.items():
        p = round(float(estimate), 4)
        credit[skill] = p if skill in lowered else max(credit.get(skill, 0.0), p)
    return credit


def learner_mastery(session: Session, engine: Engine, user_id: int, bank: ItemBank, learner: Learner, *,
                    keys: list[str]) -> dict[str, tuple[float, float]]:
    """:func:`decision_mastery` of a loaded learner, held at its credits (:func:`credited`)."""
    model_mastery = engine.model.mastery(learner.state, keys)
    if engine.tracker is None:
        return credited(model_mastery, learner.record)
    return credited(decision_mastery(engine, model_mastery,
                                     tracker_state(session, engine, user_id, bank, learner.n_attempts), keys),
                    learner.record)


def prior_mastery(engine: Engine, keys: list[str]) -> dict[str, tuple[float, float]]:
    """The decision mastery of a learner with no answers yet (progress counts from it)."""
    return decision_mastery(engine, engine.prior_mastery(keys), {}, keys)


def _learner_view(learner: Learner, mastery: dict[str, tuple[float, float]]) -> LearnerView:
    return LearnerView(mastery=mastery, counts=learner.state.counts,
                       last_practiced=learner.record.get("last_practiced", {}),
                       recent_items=learner.record.get("recent_items", []))


# --------------------------------------------------------------------------------------------- serving
@dataclasses.dataclass
class BankView:
    items: list[Item]
    policy_items: list[PolicyItem]
    by_key: dict[str, Item]
    candidates: Any


def bank_view(session: Session, engine: Engine, bank: ItemBank) -> BankView:
    active = items.bank_items(session, bank.id)
    policy_items = [PolicyItem(it.key, tuple(it.skill_keys)) for it in active]
    cands = engine.candidates(bank.id, bank.version,
                              [(engine_item_id(bank.slug, p.item_id), p.skills) for p in policy_items],
                              {engine_item_id(bank.slug, it.key): it.difficulty for it in active})
    return BankView(active, policy_items, {it.key: it for it in active}, cands)


def _exposure(session: Session, engine: Engine, bank: ItemBank, view: BankView) -> dict[str, int]:
    def load() -> dict[int, int]:
        rows = session.execute(select(ServedItem.item_id, func.count()).where(
            ServedItem.bank_id == bank.id, ServedItem.is_test_user.is_(False)).group_by(ServedItem.item_id)).all()
        return {int(i): int(n) for i, n in rows}

    counts = engine.exposure(bank.id, load)
    return {it.key: counts.get(it.id, 0) for it in view.items}


def _pick(session: Session, engine: Engine, activity: Activity, enrolment: PracticeEnrolment, *,
          learner: Learner, view: BankView, now: float, at_least_one: bool = False
          ) -> tuple[Pick | None, dict[str, tuple[float, float]]]:
    """The policy's next item and the learner's mastery. ``at_least_one``: when the policy has nothing to serve
    (every goal skill already over the threshold), choose as if nothing were mastered, so that an enrolment with
    no answer yet gets a question: a threshold at or under the model's prior, or a review of skills already
    mastered, would otherwise end before the learner has answered anything."""
    keys = [s.key for s in activity.skills]
    mastery = learner_mastery(session, engine, enrolment.user_id, activity.bank, learner, keys=keys)
    if not view.policy_items:
        return None, mastery
    preds = engine.model.predict_proba(learner.state, view.candidates)
    exposure = _exposure(session, engine, activity.bank, view)

    def run(config: PolicyConfig) -> Pick | None:
        return choose(view.policy_items, preds, _learner_view(learner, mastery), prerequisites=activity.prerequisites,
                      goal_skills=enrolment.goal_skills or None, exposure=exposure, now=now, config=config,
                      skill_names=activity.skill_names(None))

    pick = run(activity.policy)
    if pick is None and at_least_one:
        pick = run(dataclasses.replace(activity.policy, mastery_threshold=1.0))
    return pick, mastery


def _serve(session: Session, engine: Engine, lti_session: Any, enrolment: PracticeEnrolment, *, view: BankView,
           pick: Pick) -> ServedItem:
    item = view.by_key[pick.item_id]
    n_served = session.scalar(select(func.count()).select_from(ServedItem).where(
        ServedItem.user_id == lti_session.user_id, ServedItem.item_id == item.id)) or 0
    variant = answers.make_variant(item, answers.variant_seed(lti_session.user_id, item.id, n_served))
    served = ServedItem(enrolment_id=enrolment.id, user_id=lti_session.user_id, bank_id=enrolment.bank_id,
                        item_id=item.id, variant=variant.to_dict(), skill=pick.skill, reason=pick.reason,
                        explanation={"code": pick.explanation.code, "params": pick.explanation.params},
                        p_correct=pick.p_correct, is_test_user=lti_session.is_test_user)
    session.add(served)
    session.flush()
    enrolment.current_served_id = served.id
    engine.count_exposure(enrolment.bank_id, item.id)
    return served


# --------------------------------------------------------------------------------------------- payloads
def progress(activity: Activity, enrolment: PracticeEnrolment, mastery: dict[str, tuple[float, float]],
             prior: dict[str, tuple[float, float]] | None = None) -> dict[str, Any]:
    """Progress toward the goal: mastered skills count whole; the others by how far they have come from the
    model's prior (a student with no answers starts at 0, not at the prior's P(correct) over the threshold)."""
    goal = enrolment.goal_skills or activity.goal_skills
    thr = activity.mastery_threshold
    n_mastered = skills_mastered(mastery, goal, thr)

    def credit(skill: str) -> float:
        p = mastery.get(skill, (0.0, 0.0))[0]
        if p >= thr:
            return 1.0
        start = min((prior or {}).get(skill, (0.0, 0.0))[0], thr)
        return max(0.0, (p - start) / (thr - start)) if thr > start else 0.0

    fraction = sum(credit(s) for s in goal) / max(len(goal), 1)
    if n_mastered == len(goal):
        fraction = 1.0
    return {"skills_mastered": n_mastered, "skills_total": len(goal), "fraction": round(fraction, 4),
            "items_answered": enrolment.items_answered, "items_correct": enrolment.items_correct,
            "completed": enrolment.completed_at is not None}


def score_of(activity: Activity, enrolment: PracticeEnrolment, mastery: dict[str, tuple[float, float]]
             ) -> tuple[float, str, dict[str, Any]]:
    """(score 0..1, English comment, comment parameters) per the activity's scoring mode."""
    if activity.scoring == SCORING_CORRECT:
        n, k = enrolment.items_answered, enrolment.items_correct
        return (k / n if n else 0.0), f"{k} of {n} answers correct", {"code": "correct", "n": k, "total": n}
    goal = enrolment.goal_skills or activity.goal_skills
    m = skills_mastered(mastery, goal, activity.mastery_threshold)
    return (m / len(goal) if goal else 0.0), f"{m} of {len(goal)} skills mastered", {
        "code": "mastered", "n": m, "total": len(goal)}


def mastery_payload(activity: Activity, mastery: dict[str, tuple[float, float]], locale: str | None,
                    goal: list[str] | None = None) -> list[dict[str, Any]]:
    goal_set = set(goal or activity.goal_skills)
    names = activity.skill_names(locale)
    return [{"skill": s.key, "name": names[s.key], "p": round(mastery.get(s.key, (0.0, 0.0))[0], 4),
             "uncertainty": round(mastery.get(s.key, (0.0, 0.0))[1], 4),
             "mastered": mastery.get(s.key, (0.0, 0.0))[0] >= activity.mastery_threshold,
             "in_goal": s.key in goal_set, "prerequisites": activity.prerequisites.get(s.key, [])}
            for s in activity.skills]


def item_payload(served: ServedItem, item: Item, activity: Activity, locale: str | None) -> dict[str, Any]:
    variant = answers.Variant.from_dict(served.variant)
    public = variant.public_dict()
    choices = None
    if public["choices"] is not None:
        choices = [{"key": c["key"], "html": items.localize(c["text"], locale)} for c in public["choices"]]
    names = activity.skill_names(locale)
    hints = items.localize(variant.hints, locale) if variant.hints else []
    return {
        "id": served.id,
        "type": variant.item_type,
        "stem_html": items.localize(variant.stem, locale),
        "choices": choices,
        "hints": list(hints or []),
        "skills": [{"key": k, "name": names.get(k, k)} for k in item.skill_keys],
        "explanation": served.explanation,
        "p_correct": served.p_correct,
        "reason": served.reason,
    }


# --------------------------------------------------------------------------------------------- API
def _served_for(session: Session, lti_session: Any, served_id: Any, link_id: int
                ) -> tuple[ServedItem, PracticeEnrolment]:
    sid = row_id(served_id)
    if sid is None:
        raise NotFound("unknown item")
    served = session.get(ServedItem, sid)
    if served is None or served.user_id != lti_session.user_id:
        raise NotFound("unknown item")
    enrolment = session.get(PracticeEnrolment, served.enrolment_id)
    if enrolment is None or enrolment.resource_link_id != link_id:
        raise NotFound("unknown item")
    return served, enrolment


def next_item(session: Session, lti_session: Any, engines: EngineFor, settings: Any, *, locale: str | None = None,
              review_id: int | None = None, now: float | None = None) -> dict[str, Any]:
    """The item to show now (the one on screen when there is one: resume), with progress and mastery; commits.
    ``engines(bank)`` gives the engine of the activity's bank (as every entry point here)."""
    activity = load_activity(session, lti_session, settings)
    engine = engines(activity.bank)
    if review_id is None and lti_session.is_learner and activity.review_id is not None:
        enrolment = _launched_review_enrolment(session, lti_session, engine, activity)
    else:
        enrolment = get_enrolment(session, lti_session, activity, review_id)
    learner = load_learner(session, engine, lti_session.user_id, activity.bank)
    keys = [s.key for s in activity.skills]
    goal = enrolment.goal_skills or activity.goal_skills
    # mastered elsewhere: by the learner's own answers on this bank (another activity), never by the model's prior
    # alone (a threshold at or under the prior would grade a student who never answered 100 %); a review is
    # always practised
    earned_elsewhere = learner.n_attempts > 0 and enrolment.review_assignment_id is None
    view = pick = None
    if enrolment.current_served_id is not None:
        served = session.get(ServedItem, enrolment.current_served_id)
        if served is not None and served.answered_at is None:
            mastery = learner_mastery(session, engine, lti_session.user_id, activity.bank, learner, keys=keys)
            if (earned_elsewhere and goal and enrolment.completed_at is None
                    and skills_mastered(mastery, goal, activity.mastery_threshold) == len(goal)):
                # the goal was reached since this question was served (another activity, a retraining): if nothing
                # else is due, the waiting question is dropped and the activity completes below
                view = bank_view(session, engine, activity.bank)
                pick, mastery = _pick(session, engine, activity, enrolment, learner=learner, view=view,
                                      now=now or time.time())
                if pick is None:
                    enrolment.current_served_id = None
            if enrolment.current_served_id is not None:
                session.commit()
                return _next_payload(activity, enrolment, mastery, locale=locale, served=served,
                                     item=session.get(Item, served.item_id), resumed=True,
                                     prior=prior_mastery(engine, keys), title=_enrolment_title(session, enrolment))
    if view is None:
        view = bank_view(session, engine, activity.bank)
        pick, mastery = _pick(session, engine, activity, enrolment, learner=learner, view=view,
                              now=now or time.time())
        reached = bool(goal) and skills_mastered(mastery, goal, activity.mastery_threshold) == len(goal)
        if pick is None and enrolment.items_answered == 0 and not (reached and earned_elsewhere):
            # nothing answered here and nothing earned elsewhere: the goal is "reached" only on the model's prior
            # (a low threshold) or the review's skills were mastered already; practise anyway
            pick, mastery = _pick(session, engine, activity, enrolment, learner=learner, view=view,
                                  now=now or time.time(), at_least_one=True)
    served = _serve(session, engine, lti_session, enrolment, view=view, pick=pick) if pick is not None else None
    if pick is None and enrolment.completed_at is None:
        reached = bool(goal) and skills_mastered(mastery, goal, activity.mastery_threshold) == len(goal)
        if enrolment.items_answered > 0 or (reached and earned_elsewhere):
            enrolment.completed_at = utcnow()
        if reached and (enrolment.items_answered > 0 or (earned_elsewhere and activity.scoring == SCORING_MASTERY)):
            # the goal was reached without an answer here (mastered in another activity on the same bank, or since
            # the last answer): the score, Completed, goes now; with "share of answers correct" and no answer
            # there is nothing to score
            score, comment, _ = score_of(activity, enrolment, mastery)
            enrolment.score = score
            _record_score(session, activity, enrolment, user_id=lti_session.user_id, score=score, comment=comment,
                          progress_state="Completed")
    session.commit()
    item = view.by_key[pick.item_id] if pick is not None else None
    return _next_payload(activity, enrolment, mastery, locale=locale, served=served, item=item, resumed=False,
                         prior=prior_mastery(engine, keys), title=_enrolment_title(session, enrolment))


def _launched_review_enrolment(session: Session, lti_session: Any, engine: Engine, activity: Activity
                               ) -> PracticeEnrolment:
    """The learner's enrolment in the review their launch opened; a learner who joined after the review was
    generated gets one now, made of their own weakest skills (the launch already checked the review is this
    course's)."""
    assert activity.review_id is not None
    try:
        return get_enrolment(session, lti_session, activity, activity.review_id)
    except NotFound:
        pass
    review = session.get(ReviewAssignment, activity.review_id)
    if review is None:
        raise NotFound("no review assignment for you here")
    base = get_enrolment(session, lti_session, activity)
    enrolment = PracticeEnrolment(
        resource_link_id=activity.link.id, user_id=lti_session.user_id, scope=review_scope(review.id), kind=REVIEW,
        review_assignment_id=review.id, bank_id=activity.bank.id,
        goal_skills=_review_goal(session, engine, activity, lti_session.user_id, goal=base.goal_skills or None,
                                 per_student=review.skills_per_student))
    try:
        with session.begin_nested():
            session.add(enrolment)
    except IntegrityError:  # created by a concurrent request
        return get_enrolment(session, lti_session, activity, review.id)
    if not lti_session.is_test_user:
        review.n_students += 1
    log.info("practice.review_joined", review_id=review.id, enrolment_id=enrolment.id)
    return enrolment


def _review_goal(session: Session, engine: Engine, activity: Activity, user_id: int, *, goal: list[str] | None,
                 per_student: int) -> list[str]:
    """A learner's review goal: their weakest unmastered skills of ``goal`` (else the least secure skills)."""
    keys = [s.key for s in activity.skills]
    learner = load_learner(session, engine, user_id, activity.bank)
    mastery = learner_mastery(session, engine, user_id, activity.bank, learner, keys=keys)
    weak = weak_skills(mastery, goal or activity.goal_skills, limit=per_student, threshold=activity.mastery_threshold)
    if not weak:  # everything mastered: review the least secure skills anyway
        weak = [k for _, k in sorted((mastery[k][0], k) for k in keys)][:per_student]
    return weak


def review_launch_url(settings: Any, review_id: int) -> str:
    """The review's own launch URL (Canvas launches its assignment with it as ``target_link_uri``)."""
    return f"{settings.base_url}/lti/launch?{REVIEW_LAUNCH_PARAM}={review_id}"


def _review_from_target(target_link_uri: Any) -> int | None:
    if not isinstance(target_link_uri, str) or "?" not in target_link_uri:
        return None
    values = parse_qs(urlsplit(target_link_uri).query).get(REVIEW_LAUNCH_PARAM) or []
    return _review_ref({REVIEW_KEY: values[0]}) if values else None


def link_review_launch(session: Session, launch: Any) -> int | None:
    """On a validated launch: when it opens a review assignment's own LMS assignment, link the platform's resource
    link to the review (so this and later launches from it land on the review) and the review's line item to the
    link. The review is named by the launch's ``target_link_uri`` (``?review=<id>``, the URL the review's line item
    was created with), a ``review_assignment`` custom parameter, or the launch's AGS ``lineitem`` (the review's
    gradebook column). Only a review of the launch's own course is ever linked. Returns the review id or ``None``.
    """
    from lti_tool.lti import claims as c
    from lti_tool.models import LineItem

    link, context = getattr(launch, "resource_link", None), getattr(launch, "context", None)
    if link is None or context is None:
        return None
    claims = getattr(launch, "claims", None) or {}
    raw_custom, raw_ags = claims.get(c.CUSTOM), claims.get(c.AGS_ENDPOINT)
    custom: dict[str, Any] = raw_custom if isinstance(raw_custom, dict) else {}
    ags: dict[str, Any] = raw_ags if isinstance(raw_ags, dict) else {}
    wanted = _review_from_target(claims.get(c.TARGET_LINK_URI)) or _review_ref(custom)
    review = session.get(ReviewAssignment, wanted) if wanted is not None else None
    if review is not None and review.context_id != context.id:
        log.warning("practice.review_launch_other_course", review_id=review.id, context_id=context.id)
        review = None
    lineitem_url = ags.get("lineitem") if isinstance(ags.get("lineitem"), str) else None
    if review is None and lineitem_url:
        review = session.scalars(
            select(ReviewAssignment).join(LineItem, LineItem.id == ReviewAssignment.line_item_id)
            .where(LineItem.context_id == context.id, LineItem.url == lineitem_url,
                   ReviewAssignment.context_id == context.id).limit(1)
        ).first()
    if review is None or review.resource_link_id == link.id:  # not a review's own assignment
        return None
    if _review_ref(link.settings or {}) != review.id:
        link.settings = {**(link.settings or {}), REVIEW_KEY: review.id}
        log.info("practice.review_link", review_id=review.id, resource_link_id=link.id)
    item = session.get(LineItem, review.line_item_id) if review.line_item_id is not None else None
    if item is not None and item.context_id == context.id:
        if item.resource_link_id is None:
            item.resource_link_id = link.id
        if item.url is None and lineitem_url and session.scalars(
                select(LineItem.id).where(LineItem.context_id == context.id, LineItem.url == lineitem_url)
        ).first() is None:  # the LMS made it but its answer to our POST was lost: the launch says where it is
            item.url, item.source = lineitem_url[:1024], "launch"
    session.flush()
    return review.id


def _record_score(session: Session, activity: Activity, enrolment: PracticeEnrolment, *, user_id: int,
                  score: float, comment: str, progress_state: str, review: ReviewAssignment | None = None) -> None:
    """The enrolment's score for the LMS (its activity's column, or a review's own), delivered by the outbox."""
    from lti_tool.services import grades

    if review is None and enrolment.review_assignment_id:
        review = session.get(ReviewAssignment, enrolment.review_assignment_id)
    if review is None:
        grades.record_score(session, resource_link_id=activity.link.id, user_id=user_id, score_given=score,
                            score_maximum=1.0, comment=comment, activity_progress=progress_state)
    elif review.line_item_id is not None:  # the review's own gradebook column (created by a job if need be)
        grades.record_score(session, line_item_id=review.line_item_id, user_id=user_id, score_given=score,
                            score_maximum=1.0, comment=comment, activity_progress=progress_state)


def _score_sent(activity: Activity, enrolment: PracticeEnrolment) -> bool:
    """Whether a score for this enrolment has gone to the LMS: after every answer, and once at a start where the
    goal was already mastered (mastery scoring)."""
    return enrolment.items_answered > 0 or (enrolment.completed_at is not None and activity.scoring == SCORING_MASTERY)


def _next_payload(activity: Activity, enrolment: PracticeEnrolment, mastery: dict[str, tuple[float, float]], *,
                  locale: str | None, served: ServedItem | None, item: Item | None, resumed: bool,
                  prior: dict[str, tuple[float, float]] | None = None, title: str | None = None
                  ) -> dict[str, Any]:
    score, comment, comment_params = score_of(activity, enrolment, mastery)
    return {
        "api_version": API_VERSION,
        "done": served is None,
        "resumed": resumed,
        "item": item_payload(served, item, activity, locale) if served is not None and item is not None else None,
        "progress": progress(activity, enrolment, mastery, prior),
        "mastery": mastery_payload(activity, mastery, locale, enrolment.goal_skills),
        "score": {"given": round(score, 4), "maximum": 1.0, "comment": comment, "comment_params": comment_params,
                  "scoring": activity.scoring, "sent": _score_sent(activity, enrolment)},
        "activity": {"title": title or activity.link.title, "bank": activity.bank.display_title(locale),
                     "mastery_threshold": activity.mastery_threshold, "kind": enrolment.kind},
    }


def _enrolment_title(session: Session, enrolment: PracticeEnrolment) -> str | None:
    """A review enrolment's title (its review's), else None (the activity's)."""
    review = session.get(ReviewAssignment, enrolment.review_assignment_id) if enrolment.review_assignment_id else None
    return review.title if review is not None else None


def submit_answer(session: Session, lti_session: Any, engines: EngineFor, settings: Any, *, served_id: Any,
                  answer: Any, locale: str | None = None, hints_used: int = 0, now: float | None = None
                  ) -> dict[str, Any]:
    """Grade ``answer`` against the served variant; one transaction for attempt, state, score and outbox row;
    then the next item. Answering an already answered item returns the first answer's result (no new attempt)."""
    activity = load_activity(session, lti_session, settings)
    served, enrolment = _served_for(session, lti_session, served_id, activity.link.id)
    if served.answered_at is not None:
        return _replay(session, served)
    variant = answers.Variant.from_dict(served.variant)
    check = answers.check_answer(variant, answer, locale)
    if check.feedback_key == "invalid":
        raise InvalidAnswer(check.message or "invalid answer")
    item = session.get(Item, served.item_id)
    if item is None:
        raise NotFound("unknown item")
    ts = now or time.time()
    engine = engines(activity.bank)
    learner = load_learner(session, engine, lti_session.user_id, activity.bank, for_update=True)
    skills = tuple(item.skill_keys)
    eid = engine_item_id(activity.bank.slug, item.key)
    new_state = engine.model.update(learner.state, Response(str(lti_session.user_id), eid, skills,
                                                            int(check.correct), ts))
    keys = [s.key for s in activity.skills]
    n = learner.n_attempts + 1
    new_tracked = None
    if engine.tracker is not None:
        new_tracked = engine.tracker.update(
            tracker_state(session, engine, lti_session.user_id, activity.bank, learner.n_attempts), skills,
            int(check.correct))
    mastery = decision_mastery(engine, engine.model.mastery(new_state, keys), new_tracked, keys)
    record = dict(learner.record)
    record["credit"] = update_credit(record, mastery, skills, bool(check.correct))
    mastery = credited(mastery, record)
    last = dict(record.get("last_practiced", {}))
    for s in skills:
        last[s] = ts
    record["last_practiced"] = last
    record["recent_items"] = [*record.get("recent_items", []), item.key][-RECENT_KEPT:]
    record["mastery"] = {k: [round(p, 4), round(u, 4)] for k, (p, u) in mastery.items()}
    row = learner.row or LearnerState(user_id=lti_session.user_id, bank_id=activity.bank.id,
                                      model_fingerprint=engine.fingerprint)
    row.state, row.n_attempts, row.record = new_state.to_json(), n, record
    session.add(row)

    enrolment.items_answered += 1
    enrolment.items_correct += int(check.correct)
    goal = enrolment.goal_skills or activity.goal_skills
    enrolment.skills_mastered = skills_mastered(mastery, goal, activity.mastery_threshold)
    score, comment, comment_params = score_of(activity, enrolment, mastery)
    enrolment.score = score
    enrolment.current_served_id = None
    done = enrolment.skills_mastered == len(goal) and activity.scoring == SCORING_MASTERY
    if done and enrolment.completed_at is None:
        enrolment.completed_at = utcnow()
    served.answered_at = utcnow()
    served.hints_shown = max(0, min(int(hints_used or 0), 20))
    feedback = _feedback(variant, check, locale)
    result = {
        "api_version": API_VERSION,
        "item_id": served.id,
        "correct": bool(check.correct),
        "normalized": check.normalized,
        "feedback": feedback,
        "mastery": mastery_payload(activity, mastery, locale, goal),
        "progress": progress(activity, enrolment, mastery, prior_mastery(engine, keys)),
        "score": {"given": round(score, 4), "maximum": 1.0, "comment": comment, "comment_params": comment_params,
                  "scoring": activity.scoring, "sent": True},
    }
    attempt = Attempt(served_id=served.id, enrolment_id=enrolment.id, user_id=lti_session.user_id,
                      context_id=activity.context.id, bank_id=activity.bank.id, item_id=item.id,
                      skill_keys=list(skills), answer=answer, normalized=check.normalized,
                      correct=bool(check.correct), p_correct=served.p_correct, hints_used=served.hints_shown,
                      is_test_user=lti_session.is_test_user, engine_model=engine.fingerprint, result=result)
    session.add(attempt)
    review = session.get(ReviewAssignment, enrolment.review_assignment_id) if enrolment.review_assignment_id else None
    served_pk = served.id
    try:
        session.flush()
        progress_state = "Completed" if enrolment.completed_at else "InProgress"
        _record_score(session, activity, enrolment, user_id=lti_session.user_id, score=score, comment=comment,
                      progress_state=progress_state, review=review)
        session.commit()
    except IntegrityError:  # a concurrent submission of the same served item won
        session.rollback()
        engine.forget_state(lti_session.user_id, activity.bank.id)
        again = session.get(ServedItem, served_pk)
        if again is None:
            raise NotFound("unknown item") from None
        return _replay(session, again)
    engine.remember_state(lti_session.user_id, activity.bank.id, n, new_state)
    if new_tracked is not None:
        engine.remember_tracker_state(lti_session.user_id, activity.bank.id, n, new_tracked)
    log.info("practice.answer", served_id=served.id, item_id=item.id, correct=bool(check.correct),
             enrolment_id=enrolment.id)
    result = dict(result)
    result["next"] = next_item(session, lti_session, engines, settings, locale=locale,
                               review_id=enrolment.review_assignment_id, now=ts)
    return result


def _feedback(variant: answers.Variant, check: answers.CheckResult, locale: str | None) -> dict[str, Any]:
    general = ""
    if variant.feedback:
        fb = items.localize(variant.feedback, locale) or {}
        general = fb.get("correct" if check.correct else "incorrect", "") if isinstance(fb, dict) else ""
    specific = items.localize(check.specific_feedback, locale) if check.specific_feedback else ""
    solution = None
    if not check.correct:
        try:
            solution = answers.correct_answer(variant)
        except Exception:  # an item type without a displayable answer
            solution = None
    return {"key": check.feedback_key, "html": general, "specific_html": specific, "correct_answer": solution}


def _replay(session: Session, served: ServedItem) -> dict[str, Any]:
    attempt = session.scalars(select(Attempt).where(Attempt.served_id == served.id)).first()
    if attempt is None:
        raise PracticeError("this item is being answered; try again", code="conflict")
    return {**attempt.result, "duplicate": True}


def mastery_overview(session: Session, lti_session: Any, engines: EngineFor, settings: Any, *,
                     locale: str | None = None) -> dict[str, Any]:
    activity = load_activity(session, lti_session, settings)
    engine = engines(activity.bank)
    enrolment = get_enrolment(session, lti_session, activity)
    learner = load_learner(session, engine, lti_session.user_id, activity.bank)
    keys = [s.key for s in activity.skills]
    mastery = learner_mastery(session, engine, lti_session.user_id, activity.bank, learner, keys=keys)
    session.commit()
    return {"api_version": API_VERSION, "mastery": mastery_payload(activity, mastery, locale, enrolment.goal_skills),
            "progress": progress(activity, enrolment, mastery, prior_mastery(engine, keys))}


# --------------------------------------------------------------------------------------------- instructor
def class_mastery(session: Session, lti_session: Any, engines: EngineFor, settings: Any, *,
                  locale: str | None = None) -> dict[str, Any]:
    """Who has mastered what in the caller's activity: every active learner member of the course (test users and
    inactive members left out); one who has not practised yet shows 0 answered and the model's prior mastery."""
    activity = load_activity(session, lti_session, settings)
    engine = engines(activity.bank)
    rows = session.execute(
        select(User, PracticeEnrolment).join(Membership, Membership.user_id == User.id)
        .outerjoin(PracticeEnrolment, and_(PracticeEnrolment.user_id == User.id,
                                           PracticeEnrolment.resource_link_id == activity.link.id,
                                           PracticeEnrolment.scope == LINK_SCOPE))
        .where(Membership.context_id == activity.context.id, Membership.is_learner.is_(True),
               Membership.status == "active", User.is_test_user.is_(False)).order_by(User.id)
    ).all()
    keys = [s.key for s in activity.skills]
    students = []
    for user, enrolment in rows:
        learner = load_learner(session, engine, user.id, activity.bank)
        mastery = learner_mastery(session, engine, user.id, activity.bank, learner, keys=keys)
        goal = (enrolment.goal_skills if enrolment is not None else None) or activity.goal_skills
        students.append({"user_id": user.id, "name": user.display_name,
                         "items_answered": enrolment.items_answered if enrolment is not None else 0,
                         "score": round(enrolment.score, 4) if enrolment is not None else 0.0,
                         "mastery": {k: round(mastery[k][0], 4) for k in keys},
                         "weak_skills": weak_skills(mastery, goal, threshold=activity.mastery_threshold)})
    names = activity.skill_names(locale)
    reviews = session.scalars(select(ReviewAssignment).where(ReviewAssignment.resource_link_id == activity.link.id)
                              .order_by(ReviewAssignment.id)).all()
    return {"skills": [{"key": k, "name": names[k]} for k in keys], "students": students,
            "mastery_threshold": activity.mastery_threshold,
            "reviews": [{"id": r.id, "title": r.title, "n_students": r.n_students,
                         "line_item_id": r.line_item_id} for r in reviews]}


def create_review_assignment(session: Session, lti_session: Any, engines: EngineFor, settings: Any, *,
                             title: str | None = None, skills_per_student: int = 3) -> ReviewAssignment:
    """A personalized review assignment for the class: a new AGS line item (launchable in Canvas through the
    submission extension) and, for every learner, an enrolment whose goal is that learner's own weakest skills."""
    from lti_tool.services import grades

    if not lti_session.is_instructor:
        raise PracticeError("instructors only", code="forbidden")
    activity = load_activity(session, lti_session, settings)
    engine = engines(activity.bank)
    skills_per_student = max(1, min(int(skills_per_student), len(activity.skills) or 1))
    n_existing = session.scalar(select(func.count()).select_from(ReviewAssignment)
                                .where(ReviewAssignment.resource_link_id == activity.link.id)) or 0
    title = (title or f"{activity.link.title or activity.bank.title}: review {n_existing + 1}")[:255]
    review = ReviewAssignment(context_id=activity.context.id, resource_link_id=activity.link.id,
                              bank_id=activity.bank.id, title=title, skills_per_student=skills_per_student,
                              created_by_user_id=lti_session.user_id)
    session.add(review)
    session.flush()
    launch_url = review_launch_url(settings, review.id)
    line_item = grades.create_line_item(
        session, context_id=activity.context.id, label=title, score_maximum=1.0,
        resource_id=f"review-{review.id}", tag="adaptive-review", resource_link_id=None,
        canvas_launch_url=launch_url)
    review.line_item_id = line_item.id
    learners = session.execute(
        select(PracticeEnrolment, User).join(User, User.id == PracticeEnrolment.user_id)
        .where(PracticeEnrolment.resource_link_id == activity.link.id, PracticeEnrolment.scope == LINK_SCOPE,
               User.is_test_user.is_(False))
    ).all()
    n = 0
    for enrolment, user in learners:
        weak = _review_goal(session, engine, activity, user.id, goal=enrolment.goal_skills or None,
                            per_student=skills_per_student)
        session.add(PracticeEnrolment(resource_link_id=activity.link.id, user_id=user.id,
                                      scope=review_scope(review.id), kind=REVIEW, review_assignment_id=review.id,
                                      bank_id=activity.bank.id, goal_skills=weak))
        n += 1
    review.n_students = n
    session.commit()
    log.info("practice.review_created", review_id=review.id, students=n, line_item_id=line_item.id)
    return review


def my_reviews(session: Session, lti_session: Any) -> list[dict[str, Any]]:
    link, _, _ = resolve_link(session, lti_session)
    rows = session.execute(
        select(PracticeEnrolment, ReviewAssignment)
        .join(ReviewAssignment, ReviewAssignment.id == PracticeEnrolment.review_assignment_id)
        .where(PracticeEnrolment.user_id == lti_session.user_id,
               PracticeEnrolment.resource_link_id == link.id)
        .order_by(ReviewAssignment.id)
    ).all()
    return [{"id": r.id, "title": r.title, "skills": e.goal_skills, "items_answered": e.items_answered,
             "completed": e.completed_at is not None} for e, r in rows]
