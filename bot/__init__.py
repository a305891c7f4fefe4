"""驻马店市民助手: the project's own package (CLI, config, custom Rasa components)."""

import os

# Rasa reports usage and crashes (with tracebacks) to Rasa's servers unless told not to; residents' messages must
# not leave the city's machines. Every process this package starts (Rasa, the action server, training) inherits it.
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
