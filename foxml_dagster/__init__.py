"""foxml-dagster: DAG-orchestrated research and training platform for price prediction."""
