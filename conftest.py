"""Root conftest: hil's own plugin comes from the ``pytest11`` entry point (as for any user);
here only pytest's ``pytester`` is enabled, for the tests that run a child pytest."""

pytest_plugins = ["pytester"]
