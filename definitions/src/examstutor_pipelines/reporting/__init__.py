"""The daily compliance report, readable in the Dagster UI."""
