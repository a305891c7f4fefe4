"""驻马店市民助手: the project's own package (CLI, config, custom Rasa components)."""
