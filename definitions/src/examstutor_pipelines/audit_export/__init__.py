"""The daily audit seal and its signed Parquet export."""
