"""Named SQL queries of the API, one file per area."""
