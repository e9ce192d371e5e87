"""HTTP routes of cdr_service, one blueprint per resource; thin wrappers over the domain modules."""
