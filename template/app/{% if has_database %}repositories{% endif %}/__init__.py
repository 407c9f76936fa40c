"""Data access: one repository per aggregate; no business rules here."""
