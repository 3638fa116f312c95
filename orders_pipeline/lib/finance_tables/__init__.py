"""Finance's tables, built from the outcomes: the daily summary, the exceptions queue, orphan callbacks."""
