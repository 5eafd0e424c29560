"""pytest plugin (entry point ``pytest11``): plain ``assert`` in the conformance suite reports values."""

import pytest

pytest.register_assert_rewrite("omniq.core.testing")
