"""API clients: a researcher creates (secret shown once), lists and revokes their own."""

from __future__ import annotations

import secrets

from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select

from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from .errors import ClientNotFound, Conflict, NotApproved
from .ids import digest, new_id, utcnow
from .models import ClientRow, TokenRow
from .principals import Principal
from .schemas import ClientView, NewClientView
from .scopes import Role
from .standing import standing_of

WEB_CLIENT_ID = "lpm-guard-web"
"""The built-in public client of the web pages (authorization code + PKCE)."""
MAX_ACTIVE_CLIENTS = 10
"""API clients one researcher may hold unrevoked at once (each is a secret that mints tokens)."""


class ClientService:
    def __init__(self, engine: Engine, audit: AuditService) -> None:
        self.engine = engine
        self.audit = audit

    def create(self, owner: Principal, name: str) -> NewClientView:
        """A confidential client for the client_credentials grant, limited to what the
        researcher holds now (their tokens are limited again on every request)."""
        now = utcnow()
        with Session(self.engine, expire_on_commit=False) as session:
            standing = standing_of(session, owner.subject, now)
            if (
                standing is None
                or standing.locked
                or standing.account.role != Role.RESEARCHER.value
                or not standing.scopes
            ):
                raise NotApproved("only a researcher with approved access creates API clients")
            active = session.exec(
                select(func.count())
                .select_from(ClientRow)
                .where(ClientRow.owner_id == owner.subject)
                .where(col(ClientRow.revoked_at).is_(None))
            ).one()
            if active >= MAX_ACTIVE_CLIENTS:
                raise Conflict(
                    f"you hold {MAX_ACTIVE_CLIENTS} API clients, the most one researcher may: "
                    "revoke one first"
                )
            secret = secrets.token_urlsafe(32)
            row = ClientRow(
                client_id=new_id("cli"),
                owner_id=owner.subject,
                name=name.strip(),
                secret_hash=digest(secret),
                scope=" ".join(sorted(scope.value for scope in standing.scopes)),
                created_at=now,
            )
            session.add(row)
            session.commit()
            session.refresh(row)
            view = NewClientView(**ClientView.of(row).model_dump(), client_secret=secret)
        self.audit.record(
            AuditTag.ACCESS_CLIENT_CREATE,
            owner.actor,
            objects={"client": view.client_id, "account": owner.subject},
            payload={"scope": view.scope},
        )
        return view

    def list(self, owner: Principal) -> list[ClientView]:
        with Session(self.engine, expire_on_commit=False) as session:
            statement = (
                select(ClientRow)
                .where(ClientRow.owner_id == owner.subject)
                .order_by(col(ClientRow.created_at))
            )
            return [ClientView.of(row) for row in session.exec(statement)]

    def revoke(self, owner: Principal, client_id: str) -> ClientView:
        """Revoke the client and every token issued to it."""
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.get(ClientRow, client_id)
            if row is None or row.owner_id != owner.subject:
                raise ClientNotFound(f"you have no API client {client_id}")
            if row.revoked_at is not None:
                raise Conflict(f"the API client {client_id} is already revoked")
            row.revoked_at = utcnow()
            session.add(row)
            session.exec(
                update(TokenRow)
                .where(col(TokenRow.client_id) == client_id)
                .values(access_revoked=True, refresh_revoked=True)
            )
            session.commit()
            session.refresh(row)
            view = ClientView.of(row)
        self.audit.record(
            AuditTag.ACCESS_CLIENT_REVOKE,
            owner.actor,
            objects={"client": client_id, "account": owner.subject},
        )
        return view
