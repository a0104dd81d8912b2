"""Organisation: departments and locations, and the employee CSV import."""
