"""Fleet Workshop Manager: repairs, parts, rules, due dates, reminders, statistics."""
