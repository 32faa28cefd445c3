"""Fleet Config Manager: system configuration, JSON templates, translations, backups."""
