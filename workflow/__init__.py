"""Kvalitetsutmärkelsen workflow: the domain and its edges."""
