"""`make bench`: our stack against stock Rasa on this machine (bench/run.py)."""
