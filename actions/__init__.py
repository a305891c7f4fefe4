"""rasa-sdk actions: thin glue that asks `kb/` and sends responses from domain.yml."""
