"""Results on disk: the parquet schema and journal, merged fleets, baselines, atomic writes."""
