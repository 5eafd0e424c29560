"""A module whose import raises, as a task module with a bug at top level would.

The conformance suite enqueues ``omniq.core.testing._fails_on_import:anything`` to check that such a
task goes to ``dead`` with the reason instead of stopping the worker.
"""

raise RuntimeError("this module fails while it is imported")
