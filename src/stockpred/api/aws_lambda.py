"""AWS Lambda entry point: API Gateway (HTTP API v2, REST v1) and ALB events through Mangum.

Point the function's handler at ``stockpred.api.aws_lambda.handler``. Importing this module
builds nothing (no settings, store or app): Lambda imports it during its init phase, and the
house rule is no import-time side effects. The app is built on the first invocation and kept
for the life of the process, because Lambda reuses a warm process for many invocations and
building the app (settings, store, champion models) costs far more than answering a request.

Mangum, left to itself, runs the app's lifespan (startup *and* shutdown) around every single
invocation (Kludex/mangum#342). stockpred's startup loads the champions and its shutdown closes
the webhook client and the job runner, so each request would reload models and the next one
would find its services closed. ``LambdaHandler`` therefore runs the lifespan once per process
on one event loop that it keeps, and gives each request the lifespan state. Shutdown is
best-effort: it runs from ``atexit`` when the runtime ends the interpreter normally, but Lambda
may freeze and discard a process without notice, so nothing essential may wait for it.
"""

from __future__ import annotations

import asyncio
import atexit
from collections.abc import Callable
from typing import TYPE_CHECKING

from stockpred.domain.errors import ConfigurationError, MissingExtraError

if TYPE_CHECKING:
    from mangum import Mangum
    from mangum.protocols.lifespan import LifespanCycle
    from mangum.types import LambdaContext
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LambdaHandler", "LazyLambdaHandler", "build_handler", "handler"]

# An API Gateway event or the response to it: JSON objects, as Lambda hands them over.
LambdaEvent = dict[str, object]
LambdaResponse = dict[str, object]


def _require_mangum() -> None:
    try:
        import mangum  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(
            "the AWS Lambda entry point needs the optional dependency 'mangum', which is not "
            "installed; install the extra: pip install 'stockpred[aws-lambda]'"
        ) from exc


class LambdaHandler:
    """A Lambda handler over an ASGI app whose lifespan spans the process, not one invocation.

    ``base_path`` is stripped from request paths: keep "/" for an HTTP API's ``$default`` stage
    or a custom domain; give "/prod" for a stage named ``prod`` whose name is in the path.
    Call ``close`` to run the app's shutdown; a closed handler serves no more events.
    """

    def __init__(self, app: ASGIApp, *, base_path: str = "/") -> None:
        _require_mangum()
        from mangum import Mangum

        self._app = app
        # One loop for the process: the lifespan's tasks and any pooled connections (Redis)
        # are bound to the loop they started on, so every invocation must run on it.
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._lifespan: LifespanCycle | None = None
        self._adapter: Mangum = Mangum(
            self._with_state, lifespan="off", api_gateway_base_path=base_path
        )

    def __call__(self, event: LambdaEvent, context: LambdaContext) -> LambdaResponse:
        """Answer one event (the Lambda runtime's call); starts the app on the first one."""
        # Mangum runs each event on the current loop; make sure it is ours even if other code
        # in the process changed it.
        asyncio.set_event_loop(self._loop)
        if self._lifespan is None:
            self._start()
        response: LambdaResponse = self._adapter(event, context)
        return response

    def _start(self) -> None:
        from mangum.exceptions import LifespanFailure
        from mangum.protocols.lifespan import LifespanCycle

        cycle = LifespanCycle(self._with_state, "on")
        try:
            cycle.__enter__()
        except LifespanFailure as exc:
            raise ConfigurationError(
                f"the API did not start in Lambda: {exc}; the function's log holds the cause, "
                "and the next invocation tries again"
            ) from exc
        self._lifespan = cycle

    async def _with_state(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._lifespan is not None and scope["type"] in ("http", "websocket"):
            # What the lifespan yielded, copied per request as ASGI servers do.
            scope["state"] = dict(self._lifespan.lifespan_state)
        await self._app(scope, receive, send)

    def close(self) -> None:
        """Run the app's shutdown (if it started) and close the loop; safe to call twice."""
        if self._loop.is_closed():
            return
        asyncio.set_event_loop(self._loop)
        try:
            if self._lifespan is not None:
                cycle, self._lifespan = self._lifespan, None
                cycle.__exit__(None, None, None)
        finally:
            self._loop.close()
            asyncio.set_event_loop(None)


def build_handler(app: ASGIApp, *, base_path: str = "/") -> LambdaHandler:
    """A Lambda handler answering API Gateway and ALB events with ``app``.

    Raises ``MissingExtraError`` when mangum (the ``aws-lambda`` extra) is not installed.
    """
    return LambdaHandler(app, base_path=base_path)


class LazyLambdaHandler:
    """A handler that builds its app with ``factory`` on its first event, then reuses it.

    A failed build is not kept, so the next invocation tries again (e.g. after a secret was
    fixed). The app's shutdown is registered with ``atexit`` once it has been built.
    """

    def __init__(self, factory: Callable[[], ASGIApp], *, base_path: str = "/") -> None:
        self._factory = factory
        self._base_path = base_path
        self._built: LambdaHandler | None = None

    def __call__(self, event: LambdaEvent, context: LambdaContext) -> LambdaResponse:
        if self._built is None:
            built = build_handler(self._factory(), base_path=self._base_path)
            atexit.register(self.close)
            self._built = built
        return self._built(event, context)

    def close(self) -> None:
        """Shut the built app down (nothing to do before the first event)."""
        built, self._built = self._built, None
        if built is not None:
            atexit.unregister(self.close)
            built.close()


def _app_from_settings() -> ASGIApp:
    # Imported here, not at the top: the app module pulls in the whole serving stack.
    from stockpred.api.app import create_app_from_settings

    # No periodic task: on Lambda it would run only while a request is being answered.
    return create_app_from_settings(background=False)


# What the Lambda runtime calls: handler(event, context). Building it costs nothing; the app is
# built from the settings (environment variables of the function) on the first event.
handler = LazyLambdaHandler(_app_from_settings)
