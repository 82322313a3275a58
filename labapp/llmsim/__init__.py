"""A loopback stand-in for an OpenAI-compatible chat model that follows instructions naively.

It is the ground truth's model: its behaviour is fixed here (:mod:`.model`), independent
of any detector, and documented in ``docs/LAB.md``.
"""
