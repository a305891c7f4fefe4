"""The conversation log as supervisors read it: a summary per conversation and a row per resident message.

Rasa writes its `events` table (bot/tracker_store.py); `indexer.catch_up` reads the events added since it last ran
and keeps two small tables in step (`models.py`), indexed for the console's filters. The events stay the record;
these tables can always be rebuilt from them (`python -m bot logs reindex`).
"""
