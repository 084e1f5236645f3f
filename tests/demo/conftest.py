"""The inference tests' tiny generators and workdirs, for the demo's tests."""

# pylint: disable=unused-import
from tests.inference.conftest import tiny_model
from tests.inference.conftest import tiny_weights
from tests.inference.conftest import tiny_workdir
