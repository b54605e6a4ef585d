"""AI convergence: a council of peers answers, reviews and synthesizes one signed result.

The protocol core is sans-I/O (:mod:`gateway.converge.asker`,
:mod:`gateway.converge.participant`); the AI adapters in
:mod:`gateway.converge.adapters` do the I/O. See docs/PROTOCOL-convergence.md.
"""
