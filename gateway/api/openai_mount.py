"""The OpenAI-compatible routes on the local API, with their module loaded at first use.

An idle node carries no code for the council-as-a-model until an OpenAI client calls it
(:mod:`gateway.api.openai_compat` holds the routes and their documentation).
"""

from __future__ import annotations

from gateway.api.lazymount import Handler, LazyRoutes
from gateway.contacts.book import ContactBook
from gateway.node.rounds import RoundsService

#: (method, path) of the routes, as :meth:`OpenAIRoutes.routes` lists them
ROUTES = (
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{model}"),
    ("POST", "/v1/chat/completions"),
)


class LazyOpenAIRoutes(LazyRoutes):
    """The OpenAI route set; the real one is made on the first request."""

    ROUTES = ROUTES

    def __init__(self, rounds: RoundsService, book: ContactBook) -> None:
        self.rounds, self.book = rounds, book

    def load(self) -> dict[tuple[str, str], Handler]:
        from gateway.api.openai_compat import OpenAIRoutes

        routes = OpenAIRoutes(self.rounds, self.book).routes()
        return {(method, path): handler for method, path, handler in routes}
