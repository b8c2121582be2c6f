"""The gate: one request through access, consent and policy, in that order, audited either way.

``Gate.admit`` is what every generation passes, offline or live: the route has already checked
the caller's scope and standing (the authenticator does, on every request); the gate checks the
quota, asks the consent stage whether this identity may be generated for this use from these
references, and runs the policy over the instructions and the reference images. Every reason
found is collected (a denial lists them all), and the decision is appended to the audit log: the
allow entry's index is what the output's watermark carries. Where the policy says "review" and
nothing else stands in the way, an offline request is held (``reviewable``): its quota reserved,
the decision audited as ``generation:request:review``, and a reviewer's approval later passes it
through ``Gate.release``, which checks access and consent again at that moment. An offline
request reserves its seconds of quota as the last step before the allow entry (atomic: two
requests cannot both pass on the same remainder); the job refunds them if it fails.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NoReturn

import cv2
import numpy as np
from sqlmodel import Session

from ..access.errors import NotApproved, QuotaExceeded
from ..access.ids import utcnow
from ..access.interfaces import Quotas
from ..access.principals import Principal
from ..access.quotas import quota_day
from ..access.scopes import Scope
from ..access.standing import standing_of
from ..audit import Receipt
from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..consent.faces import RGB
from ..consent.models import Use
from ..consent.services import ConsentService
from ..errors import Forbidden, NotFound
from ..policy import Action, Decision, InputRejected, Policy
from ..policy import Use as PolicyUse


class GenerationDenied(Forbidden):
    slug: ClassVar[str] = "generation-denied"
    title: ClassVar[str] = "The gate refused this generation"


@dataclass(frozen=True)
class Admission:
    """What passed the gate: who, which identity, for what, and the audit entry saying so."""

    subject: str
    identity_id: str
    use: Use
    receipt: Receipt  # of the allow entry: its index is what the watermark carries
    photos: list[RGB]  # the identity's enrolled photos: the first is the one rigged
    references: list[RGB]
    policy_version: str
    consent_index: int | None
    reserved_s: float = 0.0  # of quota, reserved for an offline job
    quota_day: str = ""  # the day the reservation is counted in (a refund goes back there)
    landmarks: list[list[float]] | None = None  # the first photo's, for a drawn face
    # Held for a reviewer: the policy's "review" reasons (the receipt is then the review entry).
    review: tuple[str, ...] = ()
    # Every policy decision of this request, in order: ``checked``, the instructions', then
    # each reference image's (the evidence a reviewer sees).
    decisions: tuple[Decision, ...] = ()


class Gate:
    def __init__(
        self, audit: AuditService, consent: ConsentService, policy: Policy, quotas: Quotas
    ) -> None:
        self.audit = audit
        self.consent = consent
        self.policy = policy
        self.quotas = quotas

    def admit(
        self,
        principal: Principal,
        identity_id: str,
        use: Use,
        *,
        instructions: str | None = None,
        references: Sequence[RGB] = (),
        checked: Sequence[Decision] = (),
        seconds: float | None = None,
        reviewable: bool = False,
    ) -> Admission:
        """``checked``: policy decisions the caller already made (an audio file's transcript)
        that join this request's policy step; ``seconds``: the quota to reserve (offline);
        ``reviewable``: a policy "review" holds the request for a reviewer (the Admission's
        ``review``) rather than denying it."""
        subject = principal.subject
        reasons: list[str] = []
        review: list[str] = []
        rules: list[str] = []
        # (1): access — the route checked scope and standing; seconds must be left today.
        if self.quotas.check(subject).remaining_s <= 0.0:
            reasons.append("today's quota of generated seconds is spent")
        # (2): consent — this identity, this use, these faces (the enrolled photos when no
        # reference is given: they are what will be animated).
        photos: list[RGB] = []
        consent_index = None
        landmarks = None
        try:
            photos = self.consent.enrolled_photos(subject, identity_id)
            landmarks = self.consent.enrolled_landmarks(subject, identity_id)
        except NotFound:
            reasons.append("no such identity among the caller's")
        else:
            decision = self.consent.check_request(
                subject, identity_id, use, list(references) or photos[:1]
            )
            reasons += decision.reasons
            consent_index = decision.audit_index
            if not photos and not reasons:
                reasons.append("the identity has no photo left to animate")
        # (3): policy — the instructions and the reference images.
        checks: list[Decision] = list(checked)
        if instructions:
            checks.append(self.policy.check_text(instructions, PolicyUse(use.value)))
        for image in references:
            checks.append(self._check_image(image, PolicyUse(use.value)))
        for check in checks:
            if not check.allowed:
                held = reviewable and check.action is Action.REVIEW
                (review if held else reasons).append(f"policy ({check.action}): {check.reason}")
                rules += check.rule_ids
        if reasons:
            reasons += review  # a denial lists every reason, those a reviewer would have seen too
            review = []
        # (4): the quota an offline job needs, reserved now or refused.
        now = utcnow()
        reserved, day = 0.0, quota_day(now)
        if seconds is not None and not reasons:
            try:
                self.quotas.charge(subject, seconds, now)
            except (QuotaExceeded, NotApproved) as exc:
                reasons.append(f"today's quota of generated seconds does not cover this: {exc}")
            else:
                reserved = seconds
        # (5): the decision, allow or deny, in the audit log.
        payload = {
            "use": use.value,
            "policy_version": self.policy.version,
            "policy_rules": rules,
            "consent_entry": consent_index,
            "references": len(references),
            "instructions": bool(instructions),
            **({"seconds": seconds} if seconds is not None else {}),
        }
        if reasons:
            tag, outcome = AuditTag.GENERATION_REQUEST_DENY, "deny"
        elif review:
            tag, outcome = AuditTag.GENERATION_REQUEST_REVIEW, "review"
        else:
            tag, outcome = AuditTag.GENERATION_REQUEST_ALLOW, "success"
        try:
            receipt = self.audit.record(
                tag,
                principal.actor,
                outcome=outcome,
                objects={"identity": identity_id},
                reasons=reasons or review,
                payload=payload,
            )
        except BaseException:
            if reserved:
                self.quotas.refund(subject, reserved, day, reason="the gate's decision failed")
            raise
        if reasons:
            raise GenerationDenied(
                "; ".join(reasons), reasons=reasons, audit_index=receipt.index, rule_ids=rules
            )
        return Admission(
            subject,
            identity_id,
            use,
            receipt,
            photos,
            list(references),
            self.policy.version,
            consent_index,
            reserved,
            day,
            landmarks,
            tuple(review),
            tuple(checks),
        )

    def release(
        self,
        reviewer: str,
        owner: str,
        identity_id: str,
        use: Use,
        *,
        held_entry: int,
        review_id: str,
        reserved_s: float,
        day: str,
    ) -> Admission:
        """A held request a reviewer approved, through the gate again at this moment: the
        owner still in good standing with the scope, the identity's consent still in force
        (checked against the enrolled photo: the request's reference images were matched when
        it was held and are not kept while it waits). The policy's "review" hits are what the
        reviewer approved; the quota stays reserved from the hold. Audited as the reviewer's
        allow (whose index the watermark carries) or deny; a denial raises GenerationDenied and
        the caller refunds the reservation."""
        reasons: list[str] = []
        # (1): access — the owner may still generate for this use (not suspended, expired,
        # disabled or narrowed while the request waited).
        with Session(self.consent.engine) as session:
            standing = standing_of(session, owner, utcnow())
        needed = Scope.GENERATE_OFFLINE if use is Use.OFFLINE else Scope.GENERATE_LIVE
        if standing is None or standing.locked or needed not in standing.scopes:
            why = standing.reason if standing is not None else "no such account"
            reasons.append(f"the researcher may no longer generate ({why})")
        # (2): consent — in force now, for this use.
        photos: list[RGB] = []
        consent_index = landmarks = None
        try:
            photos = self.consent.enrolled_photos(owner, identity_id)
            landmarks = self.consent.enrolled_landmarks(owner, identity_id)
        except NotFound:
            reasons.append("the identity is gone")
        else:
            decision = self.consent.check_request(owner, identity_id, use, photos[:1])
            reasons += decision.reasons
            consent_index = decision.audit_index
            if not photos and not reasons:
                reasons.append("the identity has no photo left to animate")
        # (3): the decision, in the audit log under the reviewer's name.
        receipt = self.audit.record(
            AuditTag.GENERATION_REQUEST_DENY if reasons else AuditTag.GENERATION_REQUEST_ALLOW,
            reviewer,
            outcome="deny" if reasons else "success",
            objects={"identity": identity_id, "review": review_id},
            reasons=reasons,
            payload={
                "use": use.value,
                "policy_version": self.policy.version,
                "consent_entry": consent_index,
                "held_entry": held_entry,
                "owner": owner,
                "seconds": reserved_s,
            },
        )
        if reasons:
            raise GenerationDenied("; ".join(reasons), reasons=reasons, audit_index=receipt.index)
        return Admission(
            owner,
            identity_id,
            use,
            receipt,
            photos,
            [],
            self.policy.version,
            consent_index,
            reserved_s,
            day,
            landmarks,
        )

    def refuse(self, principal: Principal, identity_id: str, use: Use, reason: str) -> NoReturn:
        """A request refused before the gate's steps (its audio could not be read): audited
        like any other denial."""
        receipt = self.audit.record(
            AuditTag.GENERATION_REQUEST_DENY,
            principal.actor,
            outcome="deny",
            objects={"identity": identity_id},
            reasons=[reason],
            payload={"use": use.value, "policy_version": self.policy.version},
        )
        raise GenerationDenied(reason, reasons=[reason], audit_index=receipt.index)

    def _check_image(self, image: RGB, use: PolicyUse) -> Decision:
        # The policy reads files: the image goes through a private temporary PNG.
        with tempfile.TemporaryDirectory(prefix="lpm-gate-") as tmp:
            path = Path(tmp) / "reference.png"
            cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
            try:
                # The consent stage has just matched this face to a subject who consented in
                # person; that stands for the adult attestation the image policy asks for.
                return self.policy.check_image_file(path, use, adult_attested=True).decision
            except InputRejected as exc:
                raise GenerationDenied(f"reference image refused: {exc}") from exc
