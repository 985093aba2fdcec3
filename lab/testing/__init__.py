"""Test helpers shared by the lab's own tests (lab/tests) and the collection's integration tests
(tests/integration). Import with lab/ on sys.path: `from testing.labclient import ...`."""
