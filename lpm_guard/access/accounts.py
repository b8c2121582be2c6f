"""Accounts: create staff accounts (one-time passwords) and sign in (throttled)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Protocol

from limits.storage import MemoryStorage
from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..errors import InvalidRequest, NotFound
from ..proxies import network_of
from . import fields
from .errors import EmailTaken, InvalidCredentials, LoginThrottled
from .ids import new_id, utcnow
from .models import AccountRow, TokenRow
from .passwords import MIN_LENGTH, hash_password, one_time_password, verify_password
from .scopes import Role
from .throttle import ThrottlePolicy, record_attempt, throttled, worth_recording

MAX_EMAIL_LENGTH = 320  # the accounts' and login attempts' column
SANDBOX_PREFIX = "sandbox"  # a sandbox account's id: every audit entry it makes names it
SANDBOX_DOMAIN = "sandbox.example"  # a reserved domain: no mail ever reaches a sandbox account


@dataclass(frozen=True)
class NewAccount:
    account_id: str
    email: str
    role: Role
    password: str
    """Shown once to whoever created the account; only its argon2 hash is stored."""


def normalise_email(email: str) -> str:
    """The address a new account is stored under (see ``fields.normalise_email``)."""
    try:
        return fields.normalise_email(email)
    except ValueError as exc:
        raise InvalidRequest(f"not an email address: {exc}") from None


def email_lookup_key(email: str) -> str | None:
    """The key an account with this email would be found by (lower-cased, stripped), or None
    where no account can have it (control characters, too long): such input never reaches
    the database."""
    key = email.strip().lower()
    if not key or len(key) > MAX_EMAIL_LENGTH or fields.unsafe_character(key):
        return None
    return key


def check_password_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidRequest(f"a password needs at least {MIN_LENGTH} characters")


def email_key(email: str) -> str:
    """How the audit log names an email that matched no account: a hash, not the address."""
    return "email-sha256:" + hashlib.sha256(email.encode()).hexdigest()[:16]


def insert_account(
    session: Session,
    email: str,
    name: str,
    role: Role,
    password: str,
    *,
    one_time: bool = False,
    sandbox: bool = False,
) -> AccountRow:
    if not name.strip():
        raise InvalidRequest("a name is required")
    if found := fields.unsafe_character(name):
        raise InvalidRequest(f"the name contains a control or format character ({found})")
    account = AccountRow(
        id=new_id(SANDBOX_PREFIX if sandbox else "acct"),
        email=normalise_email(email),
        name=name.strip(),
        role=role.value,
        password_hash=hash_password(password),
        created_at=utcnow(),
        password_must_change=one_time,
        sandbox=sandbox,
    )
    if session.exec(select(AccountRow).where(AccountRow.email == account.email)).first():
        raise EmailTaken(f"an account with the email {account.email} exists")
    session.add(account)
    return account


class Tally(Protocol):
    """Count one more event under ``key`` in a fixed window of ``window_s`` seconds; the count
    so far (``RateLimits.tally``: in Redis, shared by every node, when it is set up)."""

    def __call__(self, key: str, window_s: int) -> int: ...


def memory_tally() -> Tally:
    storage = MemoryStorage()

    def tally(key: str, window_s: int) -> int:
        return storage.incr(key, window_s)

    return tally


class AccountService:
    def __init__(
        self,
        engine: Engine,
        audit: AuditService,
        throttle: ThrottlePolicy | None = None,
        tally: Tally | None = None,
    ) -> None:
        self.engine = engine
        self.audit = audit
        self.throttle = throttle or ThrottlePolicy()
        self.tally = tally or memory_tally()

    def create_staff(self, email: str, name: str, role: Role, actor: str) -> NewAccount:
        """Create an admin or reviewer account with a random one-time password."""
        if role is Role.RESEARCHER:
            raise InvalidRequest("researchers sign up by applying, not through this action")
        password = one_time_password()
        with Session(self.engine, expire_on_commit=False) as session:
            account = insert_account(session, email, name, role, password, one_time=True)
            try:
                session.commit()
            except IntegrityError:
                raise EmailTaken(f"an account with the email {account.email} exists") from None
            new = NewAccount(account.id, account.email, role, password)
        self.audit.record(
            AuditTag.ACCESS_ACCOUNT_CREATE,
            actor,
            objects={"account": new.account_id},
            payload={"role": role.value},
        )
        return new

    def create_sandbox(self, role: Role, name: str, actor: str) -> NewAccount:
        """A sandbox account for ``lpm-guard demo``: any role, a random one-time password, an
        address under the reserved ``sandbox.example`` domain, an id starting ``sandbox_``;
        marked as sandbox on every page and in its creation entry. A researcher gets no
        access until an application of theirs is approved, like any other."""
        password = one_time_password()
        email = f"{role.value}-{secrets.token_hex(4)}@{SANDBOX_DOMAIN}"
        with Session(self.engine, expire_on_commit=False) as session:
            account = insert_account(
                session, email, name, role, password, one_time=True, sandbox=True
            )
            try:
                session.commit()
            except IntegrityError:
                raise EmailTaken(f"an account with the email {account.email} exists") from None
            new = NewAccount(account.id, account.email, role, password)
        self.audit.record(
            AuditTag.ACCESS_ACCOUNT_CREATE,
            actor,
            objects={"account": new.account_id},
            payload={"role": role.value, "sandbox": True},
        )
        return new

    def has_admin(self) -> bool:
        with Session(self.engine, expire_on_commit=False) as session:
            statement = select(AccountRow).where(AccountRow.role == Role.ADMIN.value)
            return session.exec(statement).first() is not None

    def sign_in(self, email: str, password: str, address: str) -> AccountRow:
        """The account these credentials open; throttled per account and per address."""
        now = utcnow()
        key = email_lookup_key(email)
        if key is None:  # (0): no account has such an email: nothing to count or look up
            raise InvalidCredentials("the email or the password is wrong")
        with Session(self.engine, expire_on_commit=False) as session:
            # (1): refuse outright while either throttle holds, before checking the password.
            refusal = throttled(session, self.throttle, key, address, now)
        window_s = int(self.throttle.window.total_seconds())
        if refusal:
            # Not a failure (no password was checked): no row; an audit entry at the 1st,
            # 2nd, 4th... refusal of this source in this window, with the count.
            count = self.tally(f"sign-in-refused:{refusal.source}", window_s)
            if worth_recording(count):
                self.audit.record(
                    AuditTag.ACCESS_LOGIN_THROTTLE,
                    "anonymous",
                    outcome="denied",
                    objects={"account": email_key(key)},
                    reasons=[refusal.reason],
                    payload={"network": network_of(address), "refused_in_window": count},
                )
            raise LoginThrottled(f"{refusal.reason}; try again later", retry_after_s=window_s)
        with Session(self.engine, expire_on_commit=False) as session:
            # (2): one argon2 verification whether or not the account exists.
            account = session.exec(select(AccountRow).where(AccountRow.email == key)).first()
            ok = verify_password(account.password_hash if account else None, password)
            ok = ok and account is not None and not account.disabled
            record_attempt(session, key, address, now, succeeded=ok)
            session.commit()
            if account is not None:
                session.refresh(account)
                session.expunge(account)
        subject = account.id if account else email_key(key)
        if not ok or account is None:
            self.audit.record(
                AuditTag.ACCESS_LOGIN_FAILURE,
                "anonymous",
                outcome="denied",
                objects={"account": subject},
                payload={"network": network_of(address)},
            )
            raise InvalidCredentials("the email or the password is wrong")
        self.audit.record(
            AuditTag.ACCESS_LOGIN_SUCCESS,
            account.id,
            objects={"account": account.id},
            payload={"network": network_of(address)},
        )
        return account

    def change_password(self, account_id: str, new_password: str) -> None:
        """Set a new password (after the caller has checked the old one); clears the one-time
        flag. The new password may not be the old one."""
        check_password_strength(new_password)
        with Session(self.engine, expire_on_commit=False) as session:
            account = session.get(AccountRow, account_id)
            if account is None:
                raise InvalidRequest(f"no account {account_id}")
            if verify_password(account.password_hash, new_password):
                raise InvalidRequest("choose a password other than the one-time password")
            account.password_hash = hash_password(new_password)
            account.password_must_change = False
            session.add(account)
            session.commit()
        self.audit.record(
            AuditTag.ACCESS_ACCOUNT_PASSWORD_CHANGE, account_id, objects={"account": account_id}
        )

    def _by_email(self, session: Session, email: str) -> AccountRow:
        key = email_lookup_key(email)
        account = None
        if key is not None:
            account = session.exec(select(AccountRow).where(AccountRow.email == key)).first()
        if account is None:
            raise NotFound(f"no account with the email {email}")
        return account

    def set_disabled(self, email: str, disabled: bool, actor: str) -> AccountRow:
        """Disable an account (every token it holds is revoked) or enable it again."""
        with Session(self.engine, expire_on_commit=False) as session:
            account = self._by_email(session, email)
            account.disabled = disabled
            session.add(account)
            if disabled:
                session.exec(
                    update(TokenRow)
                    .where(col(TokenRow.account_id) == account.id)
                    .values(access_revoked=True, refresh_revoked=True)
                )
            session.commit()
        tag = AuditTag.ACCESS_ACCOUNT_DISABLE if disabled else AuditTag.ACCESS_ACCOUNT_ENABLE
        self.audit.record(tag, actor, objects={"account": account.id})
        return account

    def reset_password(self, email: str, actor: str) -> NewAccount:
        """A new one-time password for a staff account (researchers keep their own)."""
        password = one_time_password()
        with Session(self.engine, expire_on_commit=False) as session:
            account = self._by_email(session, email)
            role = Role(account.role)
            if role is Role.RESEARCHER:
                raise InvalidRequest("researchers choose their own passwords")
            account.password_hash = hash_password(password)
            account.password_must_change = True
            session.add(account)
            session.commit()
        self.audit.record(
            AuditTag.ACCESS_ACCOUNT_PASSWORD_RESET, actor, objects={"account": account.id}
        )
        return NewAccount(account.id, account.email, role, password)

    def list(self) -> list[AccountRow]:
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.exec(select(AccountRow).order_by(col(AccountRow.created_at))))

    def get(self, account_id: str) -> AccountRow | None:
        with Session(self.engine, expire_on_commit=False) as session:
            account = session.get(AccountRow, account_id)
            if account is not None:
                session.expunge(account)
            return account
