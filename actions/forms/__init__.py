"""Form validators and their follow-up actions, one module per form."""
