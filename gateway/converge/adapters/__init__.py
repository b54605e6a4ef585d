"""AI adapters: one interface (:class:`~gateway.converge.adapters.base.Adapter`), three kinds.

``openai`` talks to an OpenAI-compatible ``/v1/chat/completions`` endpoint,
``command`` runs a local program, ``scripted`` answers deterministically for
demos, tests and benchmarks. :func:`~gateway.converge.adapters.factory.build_adapter`
makes one from its typed config.
"""
