pytest_plugins = ["tests.fixtures_snmp", "tests.fixtures_influx"]
