"""Put access into an app: the OAuth2 server, the services, the authenticator, the routes."""

from __future__ import annotations

from fastapi import FastAPI

from ..auditing.services import AuditService
from ..ratelimits import RateLimits, of_app
from ..runtime import Runtime
from .accounts import AccountService
from .applications import ApplicationService
from .authenticator import TokenAuthenticator
from .clients import ClientService
from .oauth2_server import OAuth2Server
from .principals import Authenticator
from .quotas import QuotaService
from .researchers import ResearcherService
from .routes import AccessServices, api, oauth


def access_services(runtime: Runtime, limits: RateLimits | None = None) -> AccessServices:
    audit = AuditService(runtime.audit)
    engine = runtime.engine
    tally = None if limits is None else limits.tally
    return AccessServices(
        oauth2=OAuth2Server(engine, audit, runtime.keys, runtime.settings.resolved_public_url),
        accounts=AccountService(engine, audit, tally=tally),
        applications=ApplicationService(engine, audit),
        clients=ClientService(engine, audit),
        quotas=QuotaService(engine, audit),
        researchers=ResearcherService(engine, audit),
    )


def install(app: FastAPI, runtime: Runtime, authenticator: Authenticator | None) -> None:
    """The real authenticator unless the caller brings one (tests of other domains do)."""
    services = access_services(runtime, of_app(app.state, runtime.settings))
    app.state.access = services
    app.state.authenticator = authenticator or TokenAuthenticator(
        runtime.engine, runtime.keys, services.oauth2.issuer
    )
    app.include_router(oauth)
    app.include_router(api)
