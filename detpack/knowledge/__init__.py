"""Search-time knowledge: how raw events become the fields and data-model rows a search reads."""
