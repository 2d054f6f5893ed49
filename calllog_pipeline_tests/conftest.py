"""Fixtures shared across test files."""

# PostgreSQL and S3 backends for the deployment tests (sqlite_home, postgres_home, s3_lake).
pytest_plugins = ["calllog_pipeline_tests.backends"]
