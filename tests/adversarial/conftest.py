from tests.test_server import served  # noqa: F401  (a real `launchbot serve` for the battery)
