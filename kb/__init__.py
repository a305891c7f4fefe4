"""The knowledge base: the single source of facts (offices, entries, quoted sources) and tickets."""
