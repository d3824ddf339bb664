"""Domain: records, errors, data contracts and trading calendars. Imports nothing of ours."""
