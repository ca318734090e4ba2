"""The pure core: stages, transition table, eligibility rules. Imports only the standard library."""
